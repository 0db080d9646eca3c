package app

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/internal/testkit/fakebackend"
)

// TestStartCloseEveryService: Start brings up the cluster node, the admin
// interface, the HTTP listener and the client listener, each serving;
// Close stops every one of them (their addresses are gone) and leaves no
// goroutine behind: the App's own, the monitor's, memberlist's, the
// listeners' and the sessions'.
func TestStartCloseEveryService(t *testing.T) {
	// Registered first, so it runs last: after the fake backend stopped.
	t.Cleanup(func() { goleak.VerifyNone(t, goleak.IgnoreCurrent()) })
	backend := fakebackend.Start(t, fakebackend.Options{})
	cfg := backendConfig(t, backend)
	cfg.Cluster.Enabled, cfg.Cluster.Bind, cfg.Cluster.NodeName = true, "127.0.0.1:0", "lifecycle"
	require.NoError(t, cfg.Validate())
	a, err := New(cfg, zaptest.NewLogger(t))
	require.NoError(t, err)
	require.NoError(t, a.Start(WithAdmin(""), WithHTTP(HTTPOptions{Listen: "127.0.0.1:0"}), WithCluster()))

	require.NotNil(t, a.Cluster())
	require.Len(t, a.Cluster().Members(), 1)
	require.NotEmpty(t, a.AdminAddr())
	db := openClient(t, a.Addr())
	require.NoError(t, db.PingContext(context.Background()))
	adm := openClient(t, a.AdminAddr()) // u/pw is not an admin user: a refused login is an answer too
	require.ErrorContains(t, adm.PingContext(context.Background()), "1045")
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get("http://" + a.HTTPAddr() + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Contains(t, string(body), `rwproxy_cluster_members{state="alive"} 1`)

	require.NoError(t, db.Close())
	require.NoError(t, adm.Close())
	require.NoError(t, a.Close())
	require.Nil(t, a.Cluster())
	require.Empty(t, a.AdminAddr())
	require.Empty(t, a.HTTPAddr())
}
