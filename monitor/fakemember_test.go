package monitor

import (
	"crypto/tls"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"
	"github.com/stretchr/testify/require"
)

// memberState is what a fakeMember answers; tests change it with set.
type memberState struct {
	// Group replication: the member's row and its view of the group.
	grState, grRole string
	txBehind        int64
	viable, total   int
	// applyLag < 0 makes the apply-lag subquery fail as on a server
	// without the column (error 1054).
	applyLag  float64
	notMember bool // no row for @@server_uuid

	// Asynchronous replication.
	readOnly      bool
	mariaDB       bool // no super_read_only (1193), Slave_* column names
	oldSyntax     bool // SHOW REPLICA STATUS is a syntax error (1064)
	statusDenied  bool // SHOW REPLICA STATUS: 1227
	replicas      []replicaRow
	heartbeat     float64
	heartbeatNull bool

	// down drops every connection and refuses new ones (a killed server).
	down bool
	// sha2NoKey makes the monitor user caching_sha2_password on a server
	// without TLS or RSA key: go-mysql's client panics on full
	// authentication there (nil PEM block), which the monitor must survive.
	sha2NoKey bool

	// tls is offered to clients (nil: no TLS). requireTLS drops every
	// client that logged in without it, as a server with
	// require_secure_transport=ON refuses it.
	tls        *tls.Config
	requireTLS bool
}

// fakeMember is an in-process MySQL server (go-mysql's server package)
// answering exactly the monitor's queries from a memberState.
type fakeMember struct {
	t    testing.TB
	ln   net.Listener
	srv  *server.Server
	wg   sync.WaitGroup
	addr string

	mu      sync.Mutex
	st      memberState
	conns   map[net.Conn]struct{}
	queries []string
	// tlsLogins and plainLogins count the logins by transport.
	tlsLogins, plainLogins int
}

// newFakeMember listens on a free loopback port; it stops at test cleanup.
func newFakeMember(t testing.TB, st memberState) *fakeMember {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &fakeMember{t: t, ln: ln, addr: ln.Addr().String(), st: st, conns: make(map[net.Conn]struct{}),
		srv: server.NewServer("8.0.36-fake", mysql.DEFAULT_COLLATION_ID, mysql.AUTH_NATIVE_PASSWORD, nil, st.tls)}
	f.wg.Go(f.accept)
	t.Cleanup(f.close)
	return f
}

func (f *fakeMember) port() int {
	_, p, _ := net.SplitHostPort(f.addr)
	n, _ := strconv.Atoi(p)
	return n
}

// set changes the state under the lock; going down drops every connection.
func (f *fakeMember) set(fn func(*memberState)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.st)
	if f.st.down {
		for c := range f.conns {
			_ = c.Close()
		}
	}
}

func (f *fakeMember) state() memberState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

// logins returns the logins so far over TLS and in plain text.
func (f *fakeMember) logins() (overTLS, plain int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tlsLogins, f.plainLogins
}

// seen returns the queries received so far.
func (f *fakeMember) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.queries...)
}

func (f *fakeMember) close() {
	_ = f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

func (f *fakeMember) accept() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		if f.st.down {
			f.mu.Unlock()
			_ = c.Close()
			continue
		}
		f.conns[c] = struct{}{}
		f.mu.Unlock()
		f.wg.Go(func() { f.serve(c) })
	}
}

func (f *fakeMember) serve(c net.Conn) {
	defer func() {
		f.mu.Lock()
		delete(f.conns, c)
		f.mu.Unlock()
		_ = c.Close()
	}()
	plugin := mysql.AUTH_NATIVE_PASSWORD
	if f.state().sha2NoKey {
		plugin = mysql.AUTH_CACHING_SHA2_PASSWORD
	}
	auth := server.NewInMemoryAuthenticationHandler(plugin)
	if err := auth.AddUser("monitor", "monitor"); err != nil {
		return
	}
	conn, err := f.srv.NewCustomizedConn(c, auth, handler{f})
	if err != nil {
		return
	}
	_, overTLS := conn.Conn.Conn.(*tls.Conn)
	f.mu.Lock()
	if overTLS {
		f.tlsLogins++
	} else {
		f.plainLogins++
	}
	refuse := f.st.requireTLS && !overTLS
	f.mu.Unlock()
	if refuse {
		return
	}
	for conn.HandleCommand() == nil {
	}
}

// handler answers COM_QUERY; COM_PING is answered by go-mysql itself.
type handler struct{ f *fakeMember }

var roVarRE = regexp.MustCompile(`@@global\.(\w+) AS`)

func (h handler) HandleQuery(q string) (*mysql.Result, error) {
	f := h.f
	f.mu.Lock()
	f.queries = append(f.queries, strings.Clone(q))
	st := f.st
	f.mu.Unlock()
	switch {
	case strings.Contains(q, "replication_group_members"):
		return st.groupReplication(q)
	case strings.HasPrefix(q, "SELECT @@global."):
		return st.readOnlyVars(q)
	case q == showReplicaStatus && st.oldSyntax:
		return nil, mysql.NewError(errParse, "You have an error in your SQL syntax near 'REPLICA STATUS'")
	case q == showReplicaStatus || q == showSlaveStatus:
		if st.statusDenied {
			return nil, mysql.NewError(errSpecificAccess, "Access denied; you need (at least one of) the REPLICA MONITOR privilege(s)")
		}
		return st.replicaStatus(q == showSlaveStatus || st.mariaDB)
	case strings.Contains(q, "TIMESTAMPDIFF(MICROSECOND, MAX(ts)"):
		var v any = strconv.FormatFloat(st.heartbeat, 'f', 6, 64)
		if st.heartbeatNull {
			v = nil
		}
		return result([]string{"lag"}, []any{v})
	}
	return nil, mysql.NewError(errParse, "fake member does not know: "+q)
}

func (st memberState) groupReplication(q string) (*mysql.Result, error) {
	withLag := strings.Contains(q, "apply_lag")
	if withLag && st.applyLag < 0 {
		return nil, mysql.NewError(errBadField, "Unknown column 'APPLYING_TRANSACTION_ORIGINAL_COMMIT_TIMESTAMP' in 'field list'")
	}
	cols := []string{"member_state", "member_role", "transactions_behind", "members_viable", "members_total", "super_read_only"}
	row := []any{st.grState, st.grRole, st.txBehind, int64(st.viable), int64(st.total), boolInt(st.readOnly)}
	if withLag {
		cols = append(cols, "apply_lag")
		row = append(row, strconv.FormatFloat(st.applyLag, 'f', 6, 64))
	}
	if st.notMember {
		return result(cols)
	}
	return result(cols, row)
}

func (st memberState) readOnlyVars(q string) (*mysql.Result, error) {
	var cols []string
	var row []any
	for _, m := range roVarRE.FindAllStringSubmatch(q, -1) {
		v := m[1]
		if v == "super_read_only" && st.mariaDB {
			return nil, mysql.NewError(errUnknownSysVar, "Unknown system variable 'super_read_only'")
		}
		cols = append(cols, v)
		row = append(row, boolInt(st.readOnly))
	}
	return result(cols, row)
}

func (st memberState) replicaStatus(old bool) (*mysql.Result, error) {
	cols := replicaCols
	if old {
		cols = slaveCols
	}
	rows := make([][]any, 0, len(st.replicas))
	for _, r := range st.replicas {
		var sbm any
		if r.sbm >= 0 {
			sbm = int64(r.sbm)
		}
		rows = append(rows, []any{"Waiting for source", r.io, r.sql, sbm})
	}
	return result(cols, rows...)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func result(cols []string, rows ...[]any) (*mysql.Result, error) {
	if len(rows) == 0 {
		// BuildSimpleTextResultset types empty columns as NULL; that is
		// what a server sends for an empty result as far as the monitor
		// cares (it reads by name).
		rows = nil
	}
	rs, err := mysql.BuildSimpleTextResultset(cols, rows)
	if err != nil {
		return nil, fmt.Errorf("fake member: %w", err)
	}
	return mysql.NewResult(rs), nil
}

func (handler) UseDB(string) error { return nil }
func (handler) HandleFieldList(string, string) ([]*mysql.Field, error) {
	return nil, mysql.NewError(errParse, "not supported")
}
func (handler) HandleStmtPrepare(string) (int, int, any, error) {
	return 0, 0, nil, mysql.NewError(errParse, "not supported")
}
func (handler) HandleStmtExecute(any, string, []any) (*mysql.Result, error) {
	return nil, mysql.NewError(errParse, "not supported")
}
func (handler) HandleStmtClose(any) error { return nil }
func (handler) HandleOtherCommand(byte, []byte) error {
	return mysql.NewError(errParse, "not supported")
}

var _ server.Handler = handler{}
