package pool

import (
	"context"
	"crypto/tls"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	mysqlserver "github.com/go-mysql-org/go-mysql/server"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/internal/testkit/certs"
	"github.com/rwproxy/rwproxy/internal/testkit/fakebackend"
)

// tlsBackend is a go-mysql server on loopback standing in for a MySQL
// backend. tlsSeen counts logins that came over TLS, plain the others.
type tlsBackend struct {
	addr    string
	tlsSeen atomic.Int64
	plain   atomic.Int64
}

// startBackend serves user "u" (password "pw", authenticated with plugin)
// until the test ends; tlsConf nil means no TLS offered.
func startBackend(t *testing.T, tlsConf *tls.Config, plugin string) *tlsBackend {
	t.Helper()
	b := &tlsBackend{}
	b.addr = fakebackend.Start(t, fakebackend.Options{Plugin: plugin, TLS: tlsConf, OnLogin: func(c *mysqlserver.Conn) {
		if _, ok := c.Conn.Conn.(*tls.Conn); ok {
			b.tlsSeen.Add(1)
		} else {
			b.plain.Add(1)
		}
	}})
	return b
}

func getConn(t *testing.T, m *Manager, addr string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := m.Get(ctx, Key{Addr: addr, User: "u"}, "pw")
	if err != nil {
		return err
	}
	defer c.Discard()
	return c.Ping()
}

func TestBackendTLS(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // registered first: runs after the backends stop
	ca := certs.NewCA(t, "backend CA")
	other := certs.NewCA(t, "another CA")
	forIP := &tls.Config{Certificates: []tls.Certificate{ca.TLSCert(t, "127.0.0.1")}, MinVersion: tls.VersionTLS12}
	forName := &tls.Config{Certificates: []tls.Certificate{ca.TLSCert(t, "db.internal")}, MinVersion: tls.VersionTLS12}

	tests := []struct {
		name    string
		srvTLS  *tls.Config
		plugin  string
		policy  *BackendTLS // nil: no TLS
		wantErr string
	}{
		{name: "plain", plugin: mysql.AUTH_NATIVE_PASSWORD},
		{name: "CA and host name", srvTLS: forIP, plugin: mysql.AUTH_NATIVE_PASSWORD,
			policy: &BackendTLS{Roots: ca.Pool(), VerifyHostname: true}},
		{name: "caching_sha2 full authentication over TLS (MySQL 8.4/9.x accounts)", srvTLS: forIP,
			plugin: mysql.AUTH_CACHING_SHA2_PASSWORD, policy: &BackendTLS{Roots: ca.Pool(), VerifyHostname: true}},
		{name: "wrong CA", srvTLS: forIP, plugin: mysql.AUTH_NATIVE_PASSWORD,
			policy: &BackendTLS{Roots: other.Pool(), VerifyHostname: true}, wantErr: "certificate signed by unknown authority"},
		{name: "wrong host name", srvTLS: forName, plugin: mysql.AUTH_NATIVE_PASSWORD,
			policy: &BackendTLS{Roots: ca.Pool(), VerifyHostname: true}, wantErr: "doesn't contain any IP SANs"},
		{name: "chain only ignores the name", srvTLS: forName, plugin: mysql.AUTH_NATIVE_PASSWORD,
			policy: &BackendTLS{Roots: ca.Pool()}},
		{name: "chain only still needs the CA", srvTLS: forName, plugin: mysql.AUTH_NATIVE_PASSWORD,
			policy: &BackendTLS{Roots: other.Pool()}, wantErr: "certificate signed by unknown authority"},
		{name: "skip verify", srvTLS: forName, plugin: mysql.AUTH_NATIVE_PASSWORD,
			policy: &BackendTLS{InsecureSkipVerify: true}},
		{name: "server without TLS", plugin: mysql.AUTH_NATIVE_PASSWORD,
			policy: &BackendTLS{InsecureSkipVerify: true}, wantErr: "does not support TLS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := startBackend(t, tc.srvTLS, tc.plugin)
			m := NewManager(Options{ConnectTimeout: 3 * time.Second, WaitTimeout: time.Second}, zaptest.NewLogger(t))
			defer func() { require.NoError(t, m.Close()) }()
			if tc.policy != nil {
				m.SetTLS(func(addr string) (*tls.Config, error) {
					host, _, _ := net.SplitHostPort(addr)
					return tc.policy.Config(host), nil
				})
			}
			err := getConn(t, m, b.addr)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			if tc.policy != nil {
				require.Equal(t, int64(1), b.tlsSeen.Load())
			} else {
				require.Equal(t, int64(1), b.plain.Load())
			}
		})
	}
}

// TestBackendTLSFollowsPolicy: the TLS decision is made at each dial.
func TestBackendTLSFollowsPolicy(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // registered first: runs after the backends stop
	ca := certs.NewCA(t, "backend CA")
	b := startBackend(t, &tls.Config{Certificates: []tls.Certificate{ca.TLSCert(t, "127.0.0.1")}, MinVersion: tls.VersionTLS12},
		mysql.AUTH_NATIVE_PASSWORD)
	m := NewManager(Options{ConnectTimeout: 3 * time.Second, WaitTimeout: time.Second}, zaptest.NewLogger(t))
	defer func() { require.NoError(t, m.Close()) }()

	require.NoError(t, getConn(t, m, b.addr))
	var use atomic.Bool
	use.Store(true)
	m.SetTLS(func(string) (*tls.Config, error) {
		if !use.Load() {
			return nil, nil
		}
		return BackendTLS{Roots: ca.Pool(), VerifyHostname: true}.Config("127.0.0.1"), nil
	})
	require.NoError(t, getConn(t, m, b.addr))
	use.Store(false)
	require.NoError(t, getConn(t, m, b.addr))
	require.Equal(t, int64(2), b.plain.Load())
	require.Equal(t, int64(1), b.tlsSeen.Load())

	m.SetTLS(func(string) (*tls.Config, error) { return nil, net.ErrClosed })
	require.ErrorIs(t, getConn(t, m, b.addr), net.ErrClosed)
	m.SetTLS(nil)
	require.NoError(t, getConn(t, m, b.addr))
}
