package app

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
)

// TestPreflightReportsEveryProblem: taken ports and unreadable TLS files
// are reported together, each with its key; free ports pass.
func TestPreflightReportsEveryProblem(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	c := config.Defaults()
	c.Listen, c.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0"
	c.HTTP.Listen = taken.Addr().String()
	require.NoError(t, Preflight(&config.Config{Listen: "127.0.0.1:0", Admin: config.Admin{Listen: "127.0.0.1:0"}}))

	c.TLS.Cert, c.TLS.Key = "/nonexistent/cert.pem", "/nonexistent/key.pem"
	c.TLS.BackendCA = "/nonexistent/ca.pem"
	err = Preflight(c)
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, "cannot start, nothing was opened")
	require.Contains(t, msg, "http.listen "+taken.Addr().String()+" (tcp): address already in use")
	require.Contains(t, msg, "tls.cert/tls.key:")
	require.Contains(t, msg, "tls.backend_ca:")
}
