package app

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	mysqlserver "github.com/go-mysql-org/go-mysql/server"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/capture"
	"github.com/rwproxy/rwproxy/internal/testkit/fakebackend"
)

// TestTrafficCaptureHTTP: POST /api/capture and /api/capture/stop start
// and stop a capture as TRAFFIC CAPTURE does, only for the admin account
// (no credentials, the wrong password or the read-only stats account get
// 401 and start nothing); a bad body gets 400, a second start 409.
func TestTrafficCaptureHTTP(t *testing.T) {
	backend := fakebackend.Start(t, fakebackend.Options{Handler: func(net.Conn) mysqlserver.Handler { return rowsBackend{} }})
	cfg := backendConfig(t, backend)
	cfg.Admin.StatsUsername, cfg.Admin.StatsPassword = "stats", "stats"
	a, err := New(cfg, zaptest.NewLogger(t))
	require.NoError(t, err)
	a.Start()
	t.Cleanup(func() { _ = a.Close() })
	require.NoError(t, a.StartHTTP(HTTPOptions{Listen: "127.0.0.1:0"}))
	base := "http://" + a.HTTPAddr()
	post := func(path, user, pass, body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, base+path, strings.NewReader(body))
		require.NoError(t, err)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return resp.StatusCode, out
	}
	dir := filepath.Join(t.TempDir(), "cap")
	body := `{"dir":"` + dir + `","duration":"1h"}`
	for _, c := range [][2]string{{"", ""}, {"admin", "wrong"}, {"stats", "stats"}} {
		code, out := post("/api/capture", c[0], c[1], body)
		require.Equal(t, http.StatusUnauthorized, code, "user %q: %v", c[0], out)
	}
	require.False(t, a.Capture.Active(), "a refused request started nothing")
	code, out := post("/api/capture", "admin", "admin", `{"dir":"`+dir+`","duration":"ten"}`)
	require.Equal(t, http.StatusBadRequest, code, out)
	code, out = post("/api/capture", "admin", "admin", `{"duration":"1s"}`)
	require.Equal(t, http.StatusBadRequest, code, out)
	code, out = post("/api/capture/stop", "admin", "admin", "")
	require.Equal(t, http.StatusConflict, code, out)

	code, out = post("/api/capture", "admin", "admin", body)
	require.Equal(t, http.StatusOK, code, out)
	require.True(t, a.Capture.Active())
	code, out = post("/api/capture", "admin", "admin", body)
	require.Equal(t, http.StatusConflict, code, out)
	require.Contains(t, out["error"], "already running")

	db := openClient(t, a.Addr())
	var v int
	require.NoError(t, db.QueryRowContext(context.Background(), "SELECT c FROM t WHERE id = 2").Scan(&v))
	code, out = post("/api/capture/stop", "admin", "admin", "")
	require.Equal(t, http.StatusOK, code, out)
	require.Equal(t, dir, out["dir"])
	require.Equal(t, "stop", out["reason"])
	require.EqualValues(t, 1, out["statements"])
	require.False(t, a.Capture.Active())
	names, err := capture.Files(dir)
	require.NoError(t, err)
	require.Len(t, names, 1)
	recs, err := capture.ReadFile(names[0])
	require.NoError(t, err)
	var sqls []string
	for _, r := range recs {
		if r.Type == capture.TypeStmt {
			sqls = append(sqls, r.SQL)
		}
	}
	require.Equal(t, []string{"SELECT c FROM t WHERE id = 2"}, sqls)
}
