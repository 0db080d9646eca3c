package admin

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/config"
)

// fakeRuntime is a Runtime over a plain configuration value.
type fakeRuntime struct {
	mu      sync.Mutex
	cfg     *config.Config
	applies int
	stats   Stats
	wants   []Want
	resets  int
	paused  bool
}

// SetPaused records PROXYSQL PAUSE and RESUME.
func (f *fakeRuntime) SetPaused(p bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paused = p
}

var _ Runtime = (*fakeRuntime)(nil)

func (f *fakeRuntime) Config() *config.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cfg
}

// Apply behaves as config.Store.Apply: validate, reject restart changes,
// then swap.
func (f *fakeRuntime) Apply(ctx context.Context, c *config.Config) error {
	s := config.NewStore(f.Config(), "test")
	if err := s.Apply(ctx, c, config.SourceAdmin); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cfg = s.Current()
	f.applies++
	return nil
}

func (f *fakeRuntime) Snapshot(want Want) Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.wants = append(f.wants, want)
	return f.stats
}

func (f *fakeRuntime) ResetDigests() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resets++
}

func (f *fakeRuntime) applied() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applies
}

// testConfig is a valid configuration: hostgroup 10 with one writer,
// hostgroup 20 with two readers, two users, one query rule.
func testConfig() *config.Config {
	c := config.Defaults()
	c.Listen = "127.0.0.1:0"
	c.Admin.Listen = "127.0.0.1:0"
	c.Users = []config.User{
		{Username: "app", Password: "app-secret", DefaultHostgroup: 10},
		{Username: "report", Password: "report-secret", DefaultHostgroup: 20, MaxConnections: 5,
			Consistency: config.ConsistencyReadYourWrites, ReadYourWritesTimeout: 250 * time.Millisecond,
			AuthPlugin: config.AuthCachingSha2},
	}
	c.Servers = []config.Server{
		{Hostgroup: 10, Host: "127.0.0.1", Port: 3306, Comment: "primary"},
		{Hostgroup: 20, Host: "127.0.0.1", Port: 3307, MaxReplicationLag: 10},
		{Hostgroup: 20, Host: "127.0.0.1", Port: 3308, MaxReplicationLag: 10},
	}
	c.ReplicationHostgroups = []config.ReplicationHostgroup{{WriterHostgroup: 10, ReaderHostgroup: 20}}
	dest := 10
	c.QueryRules = []config.QueryRule{{RuleID: 1, Active: true, MatchDigest: `^SELECT .* FOR UPDATE`,
		DestinationHostgroup: &dest, Apply: true, Comment: "locking reads"}}
	c.HostgroupAttributes = []config.HostgroupAttributes{{HostgroupID: 20, Balance: config.BalanceLeastOutstanding}}
	c.FillDefaults()
	if err := c.Validate(); err != nil {
		panic(err)
	}
	return c
}

// newTestengine returns an engine over a fakeRuntime holding cfg (default
// testConfig) with its DISK layer in a temporary directory.
func newTestEngine(t *testing.T, cfg *config.Config, lg ...*zap.Logger) (*engine, *fakeRuntime) {
	t.Helper()
	if cfg == nil {
		cfg = testConfig()
	}
	if cfg.Admin.Datadir == config.Defaults().Admin.Datadir {
		cfg.Admin.Datadir = t.TempDir()
	}
	rt := &fakeRuntime{cfg: cfg}
	l := zaptest.NewLogger(t)
	if len(lg) > 0 {
		l = lg[0]
	}
	e, err := newEngine(context.Background(), engineOptions{Runtime: rt, Datadir: cfg.Admin.Datadir, Log: l, Version: Version})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close() })
	return e, rt
}

var testSession = &adminSession{User: "admin", Addr: "127.0.0.1:50000", DB: schemaMain}

// exec runs q and requires it to succeed.
func exec(t *testing.T, e *engine, q string) *result {
	t.Helper()
	res, err := e.Exec(context.Background(), testSession, q)
	require.NoError(t, err, q)
	return res
}

// execErr runs q and requires a MySQL error with code.
func execErr(t *testing.T, e *engine, q string, code uint16) string {
	t.Helper()
	_, err := e.Exec(context.Background(), testSession, q)
	require.Error(t, err, q)
	me := asMyError(t, err)
	require.Equal(t, code, me.Code, "%s: %s", q, me.Message)
	return me.Message
}

// firstColumn returns the first column of q's rows.
func firstColumn(t *testing.T, e *engine, q string) []string {
	t.Helper()
	res := exec(t, e, q)
	out := make([]string, 0, len(res.Rows))
	for _, r := range res.Rows {
		if r[0] == nil {
			out = append(out, "NULL")
			continue
		}
		out = append(out, r[0].(string))
	}
	return out
}

// one returns the single value q yields.
func one(t *testing.T, e *engine, q string) any {
	t.Helper()
	res := exec(t, e, q)
	require.Len(t, res.Rows, 1, q)
	require.Len(t, res.Rows[0], 1, q)
	return res.Rows[0][0]
}

func asMyError(t *testing.T, err error) *mysql.MyError {
	t.Helper()
	var me *mysql.MyError
	require.ErrorAs(t, err, &me, "want a MySQL error, got %v", err)
	return me
}

// writeYAML writes a configuration file and returns its path.
func writeYAML(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rwproxy.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}
