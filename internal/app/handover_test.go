package app

import (
	"context"
	"database/sql"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	mysqlserver "github.com/go-mysql-org/go-mysql/server"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/handover"
	"github.com/rwproxy/rwproxy/internal/inherit"
	"github.com/rwproxy/rwproxy/internal/testkit/fakebackend"
)

// upgradeRig is an old proxy in front of a fake backend, with its upgrade
// socket, and counters of the statements each process served.
type upgradeRig struct {
	old        *App
	oldQ, newQ atomic.Int64
	sock       string
	stats      *handover.Stats
	newStats   handover.Stats // the new process's (SetUpgradeStats)
	oldDone    chan error
	newApp     *App
	newMu      sync.Mutex
	backend    string
	commitWait time.Duration // Old.CommitWait; 0: a minute (no commit before done)
}

func newUpgradeRig(t *testing.T, mods ...func(*config.Config)) *upgradeRig {
	t.Helper()
	r := &upgradeRig{stats: &handover.Stats{}, oldDone: make(chan error, 1)}
	r.backend = fakebackend.Start(t, fakebackend.Options{Handler: func(net.Conn) mysqlserver.Handler { return rowsBackend{} }})
	cfg := backendConfig(t, r.backend)
	for _, m := range mods {
		m(cfg)
	}
	a, err := New(cfg, zaptest.NewLogger(t).Named("old"))
	require.NoError(t, err)
	a.SetQueryHook(func([]byte) { r.oldQ.Add(1) })
	a.Start()
	require.NoError(t, a.StartAdmin(""))
	require.NoError(t, a.StartCluster()) // when cluster.enabled
	t.Cleanup(func() { _ = a.Close() })
	r.old = a
	r.sock = filepath.Join(t.TempDir(), "up.sock")
	return r
}

// serveOld runs the old side of one upgrade.
func (r *upgradeRig) serveOld(t *testing.T) {
	t.Helper()
	ln, err := handover.ListenSocket(r.sock)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	o := &handover.Old{Src: r.old.UpgradeSource(), Log: zaptest.NewLogger(t).Named("old-upgrade"), Stats: r.stats,
		AckTimeout: 30 * time.Second, DrainTimeout: time.Minute, CommitWait: time.Minute}
	if r.commitWait > 0 {
		o.CommitWait = r.commitWait
	}
	go func() {
		uc, err := ln.AcceptUnix()
		if err != nil {
			r.oldDone <- err
			return
		}
		r.oldDone <- o.Serve(context.Background(), uc)
	}()
}

// takeover runs the new side; failAt injects a crash (the new App is
// closed as if its process died).
func (r *upgradeRig) takeover(t *testing.T, failAt string) (*handover.Taken, error) {
	t.Helper()
	build := func(in handover.Inherited) (handover.Target, error) {
		p := filepath.Join(t.TempDir(), "runtime.yaml")
		if err := os.WriteFile(p, in.Config, 0o600); err != nil {
			return nil, err
		}
		cfg, err := config.Load(p)
		if err != nil {
			return nil, err
		}
		a, err := New(cfg, zaptest.NewLogger(t).Named("new"))
		if err != nil {
			return nil, err
		}
		a.SetQueryHook(func([]byte) { r.newQ.Add(1) })
		a.SetUpgradeStats(&r.newStats)
		if len(in.Monitor) > 0 { // as cmd/rwproxy's takeover does
			if err := a.Monitor.RestoreView(in.Monitor); err != nil {
				return nil, err
			}
		}
		a.Start()
		if err := a.StartAdmin(""); err != nil {
			_ = a.Close()
			return nil, err
		}
		if inherit.HasGossip() {
			if err := a.StartCluster(); err != nil {
				_ = a.Close()
				return nil, err
			}
		}
		r.newMu.Lock()
		r.newApp = a
		r.newMu.Unlock()
		t.Cleanup(func() { _ = a.Close() })
		return a.UpgradeTarget(), nil
	}
	crash := func() {
		r.newMu.Lock()
		defer r.newMu.Unlock()
		if r.newApp != nil {
			// A dying process says no goodbye to its peers.
			if n := r.newApp.Cluster(); n != nil {
				if d, err := n.Detach(); err == nil {
					_ = d.Close()
				}
			}
			_ = r.newApp.Close()
		}
	}
	return handover.Takeover(context.Background(), r.sock, build,
		handover.NewOptions{Log: zaptest.NewLogger(t).Named("takeover"), FailAt: failAt, Crash: crash})
}

// dedicated returns one client connection of db.
func dedicated(t *testing.T, db *sql.DB) *sql.Conn {
	t.Helper()
	c, err := db.Conn(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func queryOne(t *testing.T, c *sql.Conn, q string, args ...any) int {
	t.Helper()
	var v int
	require.NoError(t, c.QueryRowContext(context.Background(), q, args...).Scan(&v))
	return v
}

// TestUpgradeHandsSessionsOver: an idle session with a schema and a
// prepared statement moves to the new process on the same socket: the
// client's next statements (the prepared one by its old id) run there and
// not in the old process, the connection id and schema are kept, and new
// connections to the same address reach the new process.
func TestUpgradeHandsSessionsOver(t *testing.T) {
	r := newUpgradeRig(t)
	db, err := sql.Open("mysql", "u:pw@tcp("+r.old.Addr()+")/shop?interpolateParams=false")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	c := dedicated(t, db)
	stmt, err := c.PrepareContext(context.Background(), "SELECT c FROM t WHERE id = ?")
	require.NoError(t, err)
	var v int
	require.NoError(t, stmt.QueryRowContext(context.Background(), 1).Scan(&v))
	require.Equal(t, 7, v)
	require.Equal(t, 7, queryOne(t, c, "SELECT c FROM t WHERE id = 2"))
	before := r.old.Sessions.Processlist()
	require.Len(t, before, 1)
	// A runtime change never saved to disk goes to the new process.
	changed := r.old.Store.Current().Clone()
	late := changed.Users[0]
	late.Username = "late"
	changed.Users = append(changed.Users, late)
	require.NoError(t, r.old.Store.Apply(context.Background(), changed, config.SourceAdmin))

	r.serveOld(t)
	taken, err := r.takeover(t, "")
	require.NoError(t, err)
	<-taken.Done()
	require.NoError(t, taken.Err())
	require.NoError(t, <-r.oldDone)
	require.Equal(t, uint64(1), r.stats.HandedOver.Load())
	require.Equal(t, uint64(1), taken.Adopted.Load())
	require.Zero(t, r.old.Sessions.Count())
	require.NoError(t, r.old.Close())

	oldQ, newQ := r.oldQ.Load(), r.newQ.Load()
	require.NoError(t, stmt.QueryRowContext(context.Background(), 3).Scan(&v), "the prepared statement survives")
	require.Equal(t, 7, v)
	require.Equal(t, 7, queryOne(t, c, "SELECT c FROM t WHERE id = 4"))
	require.Equal(t, oldQ, r.oldQ.Load(), "nothing more ran in the old process")
	require.Equal(t, newQ+1, r.newQ.Load(), "the text query ran in the new process")
	after := r.newApp.Sessions.Processlist()
	require.Len(t, after, 1)
	require.Equal(t, before[0].ID, after[0].ID, "same connection id")
	require.Equal(t, "shop", after[0].DB)
	_, found := findUser(r.newApp.Store.Current(), "late")
	require.True(t, found, "the unsaved runtime change came over")

	// A new client reaches the new process on the old address.
	db2 := openClient(t, r.old.Addr())
	require.NoError(t, db2.PingContext(context.Background()))
	require.Equal(t, 2, r.newApp.Sessions.Count())
}

// TestUpgradeFailureIsSafe kills the new process at each step of the
// protocol: the old one keeps every session, taking back the ones the new
// process had received but not served (it serves none before done), and
// accepts new clients again. Every session's next statement is answered
// by the old process; the one inside a transaction is still on the same
// backend connection, its transaction open.
func TestUpgradeFailureIsSafe(t *testing.T) {
	for _, phase := range []string{handover.PhaseHello, handover.PhaseConfig, handover.PhaseListeners,
		handover.PhaseReady, handover.PhaseSession, handover.PhaseDone} {
		t.Run(phase, func(t *testing.T) {
			ctx := context.Background()
			backend := startTxnServer(t, nil, nil)
			r := newUpgradeRig(t, func(c *config.Config) { c.Servers = backendConfig(t, backend).Servers })
			db := openClient(t, r.old.Addr())
			db.SetMaxOpenConns(3)
			c1, c2, c3 := dedicated(t, db), dedicated(t, db), dedicated(t, db)
			require.Equal(t, 7, queryOne(t, c1, "SELECT c FROM t WHERE id = 1"))
			require.Equal(t, 7, queryOne(t, c2, "SELECT c FROM t WHERE id = 1"))
			_, err := c3.ExecContext(ctx, "BEGIN")
			require.NoError(t, err)
			pinned := queryOne(t, c3, "SELECT which")
			require.Equal(t, 1, queryOne(t, c3, "SELECT in_txn"))
			ids := sessionIDs(r.old)
			require.Len(t, ids, 3)

			r.serveOld(t)
			taken, err := r.takeover(t, phase)
			if err == nil {
				<-taken.Done()
				require.Zero(t, taken.Adopted.Load(), "the new process served no session")
			}
			require.ErrorIs(t, <-r.oldDone, handover.ErrRolledBack)
			require.Equal(t, uint64(1), r.stats.Rollbacks.Load())
			require.Zero(t, r.stats.HandedOver.Load())
			require.Zero(t, r.stats.Failed.Load())
			switch phase {
			case handover.PhaseSession:
				require.Equal(t, uint64(1), r.stats.TakenBack.Load(), "the session acknowledged before the crash")
			case handover.PhaseDone:
				require.Equal(t, uint64(3), r.stats.TakenBack.Load())
			default:
				require.Zero(t, r.stats.TakenBack.Load())
			}

			before := r.oldQ.Load()
			require.Equal(t, 7, queryOne(t, c1, "SELECT c FROM t WHERE id = 5"))
			require.Equal(t, 7, queryOne(t, c2, "SELECT c FROM t WHERE id = 5"))
			require.Equal(t, pinned, queryOne(t, c3, "SELECT which"), "the same backend connection")
			require.Equal(t, 1, queryOne(t, c3, "SELECT in_txn"), "its transaction still open")
			_, err = c3.ExecContext(ctx, "COMMIT")
			require.NoError(t, err)
			require.Equal(t, 0, queryOne(t, c3, "SELECT in_txn"))
			require.Equal(t, before+6, r.oldQ.Load(), "every statement ran in the old process")
			require.Equal(t, ids, sessionIDs(r.old), "the same sessions, none lost")
			// The old process accepts again.
			fresh := openClient(t, r.old.Addr())
			before = r.oldQ.Load()
			var v int
			require.NoError(t, fresh.QueryRowContext(ctx, "SELECT c FROM t WHERE id = 6").Scan(&v))
			require.Equal(t, before+1, r.oldQ.Load(), "served by the old process")
		})
	}
}

// TestUpgradeCommitRoundThenCrash: while one session runs a long
// statement, the sessions already received are committed to the new
// process (CommitWait); the new process then dies at done. The session
// committed early ends with it (counted failed); the one that left last
// is taken back and served by the old process.
func TestUpgradeCommitRoundThenCrash(t *testing.T) {
	ctx := context.Background()
	started, block := make(chan struct{}, 1), make(chan struct{})
	backend := startTxnServer(t, started, block)
	r := newUpgradeRig(t, func(c *config.Config) { c.Servers = backendConfig(t, backend).Servers })
	r.commitWait = 100 * time.Millisecond
	db := openClient(t, r.old.Addr())
	db.SetMaxOpenConns(2)
	idle, busy := dedicated(t, db), dedicated(t, db)
	require.Equal(t, 7, queryOne(t, idle, "SELECT c FROM t WHERE id = 1"))
	busyDone := make(chan error, 1)
	go func() {
		var v int
		busyDone <- busy.QueryRowContext(ctx, "SELECT block").Scan(&v)
	}()
	<-started // busy runs its statement: it leaves only after it

	r.serveOld(t)
	taken, err := r.takeover(t, handover.PhaseDone)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return r.stats.HandedOver.Load() == 1 }, 30*time.Second, 5*time.Millisecond,
		"the idle session is committed without waiting for the busy one")
	close(block)
	require.NoError(t, <-busyDone)
	<-taken.Done()
	require.ErrorIs(t, <-r.oldDone, handover.ErrRolledBack)
	require.Equal(t, uint64(1), r.stats.Failed.Load(), "the session committed before the crash")
	require.Equal(t, uint64(1), r.stats.TakenBack.Load(), "the session received at done")

	before := r.oldQ.Load()
	require.Equal(t, 7, queryOne(t, busy, "SELECT c FROM t WHERE id = 2"))
	require.Equal(t, before+1, r.oldQ.Load(), "served by the old process")
	var v int
	require.Error(t, idle.QueryRowContext(ctx, "SELECT c FROM t WHERE id = 3").Scan(&v), "ended with the new process")
}

func sessionIDs(a *App) []uint32 {
	var ids []uint32
	for _, p := range a.Sessions.Processlist() {
		ids = append(ids, p.ID)
	}
	slices.Sort(ids)
	return ids
}

// startTxnServer is a fake server whose connections answer "SELECT which"
// with their number (in login order) and "SELECT in_txn" with 1 inside a
// transaction (BEGIN .. COMMIT, reported in every reply's status); "SELECT
// block" signals started, then waits until block is closed.
func startTxnServer(t *testing.T, started chan<- struct{}, block <-chan struct{}) string {
	t.Helper()
	var mu sync.Mutex
	var logins int64
	byAddr := map[string]*txnConn{}
	return fakebackend.Start(t, fakebackend.Options{
		Handler: func(nc net.Conn) mysqlserver.Handler {
			h := &txnConn{started: started, block: block}
			mu.Lock()
			byAddr[nc.RemoteAddr().String()] = h
			mu.Unlock()
			return h
		},
		OnLogin: func(c *mysqlserver.Conn) { // on the connection's goroutine, before its commands
			mu.Lock()
			defer mu.Unlock()
			if h := byAddr[c.RemoteAddr().String()]; h != nil {
				logins++
				h.c, h.n = c, logins
			}
		}})
}

type txnConn struct {
	rowsBackend
	c       *mysqlserver.Conn
	n       int64
	started chan<- struct{}
	block   <-chan struct{}
}

func (h *txnConn) HandleQuery(q string) (*mysql.Result, error) {
	one := func(v int64) (*mysql.Result, error) {
		rs, err := mysql.BuildSimpleResultset([]string{"v"}, [][]any{{v}}, false)
		if err != nil {
			return nil, err
		}
		return mysql.NewResult(rs), nil
	}
	switch tracingOp(q) {
	case "BEGIN", "START":
		h.c.SetStatus(mysql.SERVER_STATUS_IN_TRANS)
		return nil, nil
	case "COMMIT", "ROLLBACK":
		h.c.UnsetStatus(mysql.SERVER_STATUS_IN_TRANS)
		return nil, nil
	}
	switch q {
	case "SELECT block":
		h.started <- struct{}{}
		<-h.block
		return one(1)
	case "SELECT which":
		return one(h.n)
	case "SELECT in_txn":
		if h.c.IsInTransaction() {
			return one(1)
		}
		return one(0)
	}
	return h.rowsBackend.HandleQuery(q)
}

// whichBackend answers "SELECT which" with the number of the backend
// connection that runs it (connections numbered as they log in).
type whichBackend struct {
	rowsBackend
	n int64
}

func (w whichBackend) HandleQuery(q string) (*mysql.Result, error) {
	if q == "SELECT which" {
		rs, err := mysql.BuildSimpleResultset([]string{"which"}, [][]any{{w.n}}, false)
		if err != nil {
			return nil, err
		}
		return mysql.NewResult(rs), nil
	}
	return w.rowsBackend.HandleQuery(q)
}

// TestUpgradeMovesPinnedConnection: a session holding a temporary table
// (pinned to its backend connection) moves with that connection: after
// the upgrade its statements run in the new process on the same backend
// connection, which the server never saw log in again.
func TestUpgradeMovesPinnedConnection(t *testing.T) {
	var logins atomic.Int64
	backend := fakebackend.Start(t, fakebackend.Options{Handler: func(net.Conn) mysqlserver.Handler {
		return whichBackend{n: logins.Add(1)}
	}})
	r := &upgradeRig{stats: &handover.Stats{}, oldDone: make(chan error, 1), backend: backend}
	a, err := New(backendConfig(t, backend), zaptest.NewLogger(t).Named("old"))
	require.NoError(t, err)
	a.SetQueryHook(func([]byte) { r.oldQ.Add(1) })
	a.Start()
	t.Cleanup(func() { _ = a.Close() })
	r.old, r.sock = a, filepath.Join(t.TempDir(), "up.sock")

	c := dedicated(t, openClient(t, a.Addr()))
	_, err = c.ExecContext(context.Background(), "CREATE TEMPORARY TABLE tt (a INT)")
	require.NoError(t, err)
	pinned := queryOne(t, c, "SELECT which")
	require.Equal(t, pinned, queryOne(t, c, "SELECT which"), "pinned")

	r.serveOld(t)
	taken, err := r.takeover(t, "")
	require.NoError(t, err)
	<-taken.Done()
	require.NoError(t, <-r.oldDone)
	require.Equal(t, uint64(1), r.stats.HandedOver.Load())
	loginsBefore := logins.Load()
	require.NoError(t, a.Close())

	newQ := r.newQ.Load()
	require.Equal(t, pinned, queryOne(t, c, "SELECT which"), "the same backend connection, in the new process")
	require.Equal(t, newQ+1, r.newQ.Load())
	require.Equal(t, loginsBefore, logins.Load(), "no new backend login")
}

func findUser(c *config.Config, name string) (config.User, bool) {
	for _, u := range c.Users {
		if u.Username == name {
			return u, true
		}
	}
	return config.User{}, false
}
