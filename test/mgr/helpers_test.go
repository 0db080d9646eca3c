package mgr

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/app"
	"github.com/rwproxy/rwproxy/internal/testkit"
	"github.com/rwproxy/rwproxy/monitor"
	"github.com/rwproxy/rwproxy/topology"
)

// Hostgroups of the proxy's group_replication_hostgroups entry.
const (
	hgWriter  = 10
	hgBackup  = 11
	hgReader  = 20
	hgOffline = 30
)

// interval is monitor.interval: every group replication check runs this often.
const interval = 500 * time.Millisecond

// grace absorbs scheduling delays on a loaded 2-core machine (the race
// detector, stress beside the tests, the group's own members) on top of
// interval-based bounds: a check that starts late or runs slow, and the
// test's own poller seeing the result late.
const grace = 750 * time.Millisecond

// mgrConfig is the proxy configuration in front of the group: the member
// that is primary now in hostgroup 10, the others in 20 (the monitor moves
// them by role anyway), users app/app, monitor monitor/monitor.
func mgrConfig(primary int) *config.Config {
	c := config.Defaults()
	c.Listen = "127.0.0.1:0"
	// Eventual consistency: these tests assert where reads go right after
	// writes of other sessions of the same user, which read-your-writes
	// (the default, scope user) would send to the primary whenever a
	// secondary is slow to apply. TestReadYourWritesGroup covers the default.
	c.Users = []config.User{{Username: "app", Password: "app", DefaultHostgroup: hgWriter,
		Consistency: config.ConsistencyEventual}}
	for n, port := range grp.Ports {
		hg := hgReader
		if n+1 == primary {
			hg = hgWriter
		}
		c.Servers = append(c.Servers, config.Server{Hostgroup: hg, Host: "127.0.0.1", Port: port,
			Weight: 1, Status: config.StatusOnline, MaxConnections: 200})
	}
	c.GroupReplicationHostgroups = []config.GroupReplicationHostgroup{{
		WriterHostgroup: hgWriter, BackupWriterHostgroup: hgBackup, ReaderHostgroup: hgReader,
		OfflineHostgroup: hgOffline, MaxWriters: 1, WriterIsAlsoReader: 0, MaxTransactionsBehind: 10,
	}}
	c.Monitor.Username, c.Monitor.Password = "monitor", "monitor"
	c.Monitor.Interval = interval
	// A check that merely ran slow on a loaded machine must not shun a
	// member (the default timeout is 800 ms); a killed member refuses
	// connections, which fails its checks at once.
	c.Monitor.Timeout = 5 * time.Second
	c.FailoverBuffer = 15 * time.Second
	// Work around the statement_id bug (TestReadAfterWrite) so that the
	// other tests check placement and failover, not that bug: a backend
	// connection is closed when returned, never reused by another session,
	// and tests write through fresh sessions (writerDB). TestReadAfterWrite
	// and the persistent writer of TestPrimaryKilled run without it.
	c.Pool.MaxLifetime = time.Nanosecond
	c.FillDefaults()
	return c
}

// startProxy starts an in-process proxy in front of the group and returns it
// with a database/sql handle logged in through it as app.
func startProxy(t *testing.T, primary int, edit func(*config.Config)) (*app.App, *sql.DB) {
	t.Helper()
	cfg := mgrConfig(primary)
	if edit != nil {
		edit(cfg)
	}
	a := testkit.StartProxy(t, cfg)
	return a, proxyDB(t, a)
}

// proxyDB opens a database/sql handle through the proxy as app and logs
// in. Tests that check where reads go read through a handle of their own,
// opened before any write, whose sessions never write: after a write the
// proxy currently sends every read of the session to the primary, and a new
// session's first command on a writer connection that served a write fails
// (TestReadAfterWrite).
func proxyDB(t *testing.T, a *app.App) *sql.DB {
	t.Helper()
	db := openProxy(t, a, "app")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, db.PingContext(ctx), "login through the proxy")
	return db
}

// openProxy opens a database/sql handle through the proxy as app, with
// schema as the default database ("" for none), without logging in yet.
// interpolateParams: statements with arguments are sent as text, never as
// server-side prepared statements (a COM_STMT_PREPARE inside a transaction
// currently releases the transaction's backend connection).
func openProxy(t *testing.T, a *app.App, schema string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", "app:app@tcp("+a.Addr()+")/"+schema+"?timeout=5s&interpolateParams=true")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// writerDB is a handle through the proxy that opens a new client session
// for every statement or transaction (no idle connections), so that no
// session carries session state from an earlier write (see mgrConfig). It
// names no default schema (statements use app.*): the proxy checks a
// handshake's schema on the writer at login, outside the failover buffer
// (TestQuorumLoss).
func writerDB(t *testing.T, a *app.App) *sql.DB {
	t.Helper()
	db := openProxy(t, a, "")
	db.SetMaxIdleConns(0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, db.PingContext(ctx), "login through the proxy")
	return db
}

// memberDB is a direct connection to member n as app (caching_sha2_password:
// the driver fetches the server's RSA key for full authentication).
func memberDB(t *testing.T, n int) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", "app:app@tcp("+grp.Addr(n)+")/app?timeout=2s&readTimeout=5s&writeTimeout=5s")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// member is one line of `sandbox mgr-status`.
type member struct {
	N                       int
	Alive                   bool
	State, Role, UUID, Line string
	SuperReadOnly, Behind   string
	OfflineMode             string
	Port                    int
}

func groupStatus(t *testing.T) []member {
	t.Helper()
	out, err := grp.Run("mgr-status")
	require.NoError(t, err)
	var ms []member
	for line := range strings.Lines(out) {
		f := map[string]string{}
		for _, kv := range strings.Fields(line) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				f[k] = v
			}
		}
		if !strings.HasPrefix(line, "member") {
			continue
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(strings.Fields(line)[0], "member"))
		port, _ := strconv.Atoi(f["port"])
		ms = append(ms, member{N: n, Alive: f["alive"] == "yes", State: f["state"], Role: f["role"],
			UUID: f["uuid"], SuperReadOnly: f["super_read_only"], Behind: f["transactions_behind"],
			OfflineMode: f["offline_mode"], Port: port, Line: strings.TrimSpace(line)})
	}
	require.Len(t, ms, 3, out)
	return ms
}

// ensureGroup restarts and rejoins every member that is not ONLINE, so that
// a test starts from a healthy group whatever the previous one left.
func ensureGroup(t *testing.T) []member {
	t.Helper()
	for _, m := range groupStatus(t) {
		if m.Alive && m.State == "ONLINE" {
			if m.OfflineMode == "1" { // left behind by a member that was in ERROR
				_, err := grp.SQL(m.N, "SET GLOBAL offline_mode=OFF")
				require.NoError(t, err)
			}
			continue
		}
		t.Logf("member%d is %s (alive=%v): mgr-start", m.N, m.State, m.Alive)
		_, err := grp.Run("mgr-start", strconv.Itoa(m.N))
		require.NoError(t, err)
	}
	ms := groupStatus(t)
	for _, m := range ms {
		require.True(t, m.Alive && m.State == "ONLINE", m.Line)
	}
	return ms
}

// primaryOf returns the member that reports itself ONLINE PRIMARY (0: none).
func primaryOf(ms []member) int {
	for _, m := range ms {
		if m.Alive && m.State == "ONLINE" && m.Role == "PRIMARY" {
			return m.N
		}
	}
	return 0
}

// healthyWithPrimary makes the group healthy with member n as primary.
func healthyWithPrimary(t *testing.T, n int) []member {
	t.Helper()
	ms := ensureGroup(t)
	if primaryOf(ms) != n {
		_, err := grp.Run("mgr-switch", strconv.Itoa(n))
		require.NoError(t, err)
		ms = groupStatus(t)
	}
	require.Equal(t, n, primaryOf(ms))
	return ms
}

// health returns the monitor's view of member n.
func health(a *app.App, n int) monitor.ServerHealth {
	for _, sh := range a.Monitor.Servers() {
		if sh.Addr == grp.Addr(n) {
			return sh
		}
	}
	return monitor.ServerHealth{}
}

// onlineIn reports whether sh is placed ONLINE in hostgroup hg.
func onlineIn(sh monitor.ServerHealth, hg int) bool {
	for _, b := range sh.Backends {
		if b.Hostgroup == hg && b.State == topology.StateOnline {
			return true
		}
	}
	return false
}

// placedIn reports whether sh is placed in hostgroup hg in any state.
func placedIn(sh monitor.ServerHealth, hg int) bool {
	return slices.ContainsFunc(sh.Backends, func(b topology.Backend) bool { return b.Hostgroup == hg })
}

// describe formats the monitor's view of every member, for failures and logs.
func describe(a *app.App) string {
	var b strings.Builder
	for _, sh := range a.Monitor.Servers() {
		fmt.Fprintf(&b, "\n  %s state=%s", sh.Addr, sh.State)
		for _, be := range sh.Backends {
			fmt.Fprintf(&b, " hg%d:%s", be.Hostgroup, be.State)
		}
		if g := sh.GroupReplication; g != nil {
			fmt.Fprintf(&b, " gr=%s/%s behind=%d viable=%d/%d quorum=%v", g.State, g.Role,
				g.TransactionsBehind, g.ViableMembers, g.Members, g.Quorum)
		}
		if sh.GroupReplicationError != "" {
			fmt.Fprintf(&b, " gr_error=%q", sh.GroupReplicationError)
		}
		if sh.PingError != "" {
			fmt.Fprintf(&b, " ping_error=%q", sh.PingError)
		}
	}
	return b.String()
}

// waitFor polls cond every 10 ms until it holds and returns how long that
// took; after within it fails with the monitor's view.
func waitFor(t *testing.T, a *app.App, what string, within time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v; monitor:%s", what, within, describe(a))
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// waitLayout waits until the monitor places member primary ONLINE in the
// writer hostgroup only and the two others ONLINE in the reader hostgroup
// only (writer_is_also_reader: 0).
func waitLayout(t *testing.T, a *app.App, primary int) {
	t.Helper()
	waitFor(t, a, fmt.Sprintf("member%d writer, the others readers", primary), 15*time.Second, func() bool {
		for n := 1; n <= 3; n++ {
			sh := health(a, n)
			if sh.GroupReplication == nil || len(sh.Backends) != 1 {
				return false
			}
			want := hgReader
			if n == primary {
				want = hgWriter
			}
			if !onlineIn(sh, want) {
				return false
			}
		}
		return true
	})
}

// write inserts a row through the proxy in a transaction and reads it back
// in the same transaction: the row records @@port and @@server_uuid of the
// server that ran the INSERT.
func write(ctx context.Context, db *sql.DB) (port int, uuid string, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = tx.Rollback() }()
	res, err := tx.ExecContext(ctx, "INSERT INTO app.rw (port, uuid) VALUES (@@port, @@server_uuid)")
	if err != nil {
		return 0, "", err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, "", err
	}
	if err := tx.QueryRowContext(ctx, "SELECT port, uuid FROM app.rw WHERE id = ?", id).Scan(&port, &uuid); err != nil {
		return 0, "", fmt.Errorf("reading back row %d in the transaction: %w", id, err)
	}
	return port, uuid, tx.Commit()
}

// readPorts runs `SELECT @@port` n times through the proxy (autocommit
// reads) and counts the ports that answered.
func readPorts(t *testing.T, db *sql.DB, n int) map[int]int {
	t.Helper()
	seen := map[int]int{}
	for range n {
		var p int
		require.NoError(t, db.QueryRow("SELECT @@port").Scan(&p))
		seen[p]++
	}
	return seen
}

func ms(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }

// tally counts errors by message, for readable failure reports.
type tally map[string]int

func (e tally) add(err error) { e[err.Error()]++ }

func (e tally) total() int {
	n := 0
	for _, c := range e {
		n += c
	}
	return n
}

func (e tally) String() string {
	var b strings.Builder
	for _, msg := range slices.Sorted(maps.Keys(e)) {
		fmt.Fprintf(&b, "\n    %d × %s", e[msg], msg)
	}
	return b.String()
}
