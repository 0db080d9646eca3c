package monitor

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/protocol"
)

// Replica status statements: the MySQL 8.0.22+/MariaDB 10.5+ one first,
// the old one after a syntax error.
const (
	showReplicaStatus = "SHOW REPLICA STATUS"
	showSlaveStatus   = "SHOW SLAVE STATUS"
)

// checker runs every check of one server on one dedicated monitor
// connection, from one goroutine (run). It is replaced, not mutated, when
// the configuration changes its spec.
type checker struct {
	m      *Monitor
	spec   checkSpec
	lg     *zap.Logger
	cancel context.CancelFunc
	// wake makes run check at once (Monitor.CheckNow); buffered(1).
	wake chan struct{}

	// Owned by the run goroutine.
	conn      *client.Conn
	stopClose func() bool // stops the ctx-cancel hook that closes conn
	// replicaSQL is the replica status statement this server accepts.
	replicaSQL string
	// roAlias maps a read-only variable the server does not know
	// (super_read_only on MariaDB) to the one checked instead.
	roAlias map[string]string
	// grNoLag: the server lacks the apply-lag table or column.
	grNoLag bool
	// noted holds the one-time log lines already written.
	noted map[string]bool
}

func newChecker(m *Monitor, spec checkSpec) *checker {
	return &checker{
		m: m, spec: spec, lg: m.lg.With(zap.String("backend_addr", spec.addr)), wake: make(chan struct{}, 1),
		replicaSQL: showReplicaStatus, roAlias: make(map[string]string), noted: make(map[string]bool),
	}
}

// Check kinds, in the order a due round runs them.
const (
	kPing = iota
	kReadOnly
	kGR
	kLag
	nKinds
)

// run checks the server until ctx is cancelled: ping first (dialing when
// needed), then, only while connected, the read-only, group replication
// and lag checks that are due. While the server is shunned for failed
// pings only the ping runs, backing off (pingBackoff). A wake-up
// (Monitor.CheckNow) makes the ping and role checks due at once, and they
// run every urgentEvery for a while (urgent.go).
func (c *checker) run(ctx context.Context) {
	defer c.closeConn()
	var due [nKinds]time.Time // zero: due now
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if !c.m.current(c) {
			return
		}
		if !time.Now().Before(due[kPing]) {
			fails := c.ping(ctx)
			next := pingBackoff(c.spec.pingEvery, fails, c.spec.shunAfter)
			if c.m.urgent() {
				next = c.m.every(c.spec.pingEvery) // no back-off: a writer is being looked for
			}
			due[kPing] = time.Now().Add(next)
		}
		if c.conn != nil && c.spec.roVars != "" && !time.Now().Before(due[kReadOnly]) {
			c.readOnly(ctx)
			due[kReadOnly] = time.Now().Add(c.m.every(c.spec.readOnlyEvery))
		}
		if c.conn != nil && c.spec.gr && !time.Now().Before(due[kGR]) {
			c.groupReplication(ctx)
			due[kGR] = time.Now().Add(c.m.every(c.spec.readOnlyEvery))
		}
		wantLag := c.m.wantsLag(c)
		if c.conn != nil && wantLag && !time.Now().Before(due[kLag]) {
			c.lag(ctx)
			due[kLag] = time.Now().Add(c.spec.lagEvery)
		}
		next := due[kPing]
		if c.conn != nil {
			for k, on := range [nKinds]bool{kReadOnly: c.spec.roVars != "", kGR: c.spec.gr, kLag: wantLag} {
				if on && due[k].Before(next) {
					next = due[k]
				}
			}
		}
		if ctx.Err() != nil {
			return
		}
		if d := time.Until(next); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			case <-c.wake:
				// A session lost its writer (CheckNow): ping and read the
				// role now. The lag check keeps its schedule.
				timer.Stop() // Go ≥ 1.23: no stale tick is left in timer.C
				due[kPing], due[kReadOnly], due[kGR] = time.Time{}, time.Time{}, time.Time{}
			}
		}
	}
}

// ensureConn dials the server when there is no connection, with TLS when
// the monitor's TLSFunc says so. The dial and every later read and write
// are bounded by monitor.timeout; cancelling ctx closes the socket at
// once, so Close never waits for a timeout.
func (c *checker) ensureConn(ctx context.Context) error {
	if c.conn != nil {
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, c.spec.timeout)
	defer cancel()
	var (
		raw   net.Conn
		guard *protocol.LoginGuard
		stop  func() bool
	)
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: c.spec.timeout}
		conn, err := d.DialContext(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		raw = conn
		stop = context.AfterFunc(ctx, func() { _ = conn.Close() })
		// Never answer a plugin that would expose the password without
		// TLS (mysql_clear_password, ...): see protocol.LoginGuard.
		guard = protocol.NewLoginGuard(conn)
		return guard, nil
	}
	timeouts := func(cc *client.Conn) error {
		cc.ReadTimeout, cc.WriteTimeout = c.spec.timeout, c.spec.timeout
		return nil
	}
	start := time.Now()
	conn, err := connect(dctx, c.spec, dial, timeouts, c.m.tlsOption(c.spec.addr))
	if ctx.Err() == nil { // not shutting down
		c.m.record(KindConnect, entry(c.spec.addr, start, connectResult(err), err))
	}
	if err != nil {
		if raw != nil { // the library does not close it after every failure
			stop()
			_ = raw.Close()
		}
		if guard != nil && guard.Refused() != "" {
			err = &protocol.PluginRefusedError{Plugin: guard.Refused()}
			c.note("plugin-refused", "monitor login refused: the server asked for an authentication plugin that "+
				"would send the password without TLS", zap.Error(err))
		}
		return fmt.Errorf("connect: %w", err)
	}
	c.conn, c.stopClose = conn, stop
	return nil
}

// connectResult is a connect log entry's result: "ok", or "" on failure.
func connectResult(err error) string {
	if err != nil {
		return ""
	}
	return "ok"
}

// connect dials and authenticates. go-mysql v1.16.0's client dereferences
// a nil PEM block when a server answers caching_sha2_password full
// authentication without a usable public key (no TLS, no RSA key): a
// server's answer must not crash the proxy, so that one panic is turned
// into a connect error here. Nothing else runs under this recover.
func connect(ctx context.Context, spec checkSpec, dial client.Dialer, opts ...client.Option) (conn *client.Conn, err error) {
	defer func() {
		if r := recover(); r != nil {
			conn, err = nil, fmt.Errorf("authentication failed (client library panic: %v)", r)
		}
	}()
	return client.ConnectWithDialer(ctx, "tcp", spec.addr, spec.user, spec.password, "", dial, opts...)
}

func (c *checker) closeConn() {
	if c.conn == nil {
		return
	}
	c.stopClose()
	_ = c.conn.Close()
	c.conn = nil
}

// netFailed closes the connection after an error that is not the server's
// answer (network, timeout, protocol) and reports whether it was one: such
// errors say nothing about read-only or lag, and the next ping re-dials and
// counts the failure.
func (c *checker) netFailed(err error) bool {
	if err == nil || sqlError(err) != nil {
		return false
	}
	c.closeConn()
	return true
}

// note logs msg at Warn once per checker (key identifies it).
func (c *checker) note(key, msg string, fields ...zap.Field) {
	if c.noted[key] {
		return
	}
	c.noted[key] = true
	c.lg.Warn(msg, fields...)
}

// ping dials if needed and pings; it returns the consecutive failures.
func (c *checker) ping(ctx context.Context) int {
	start := time.Now()
	err := c.ensureConn(ctx)
	var latency time.Duration
	if err == nil {
		t := time.Now()
		err = c.conn.Ping()
		latency = time.Since(t)
	}
	if err != nil {
		c.closeConn()
	}
	if ctx.Err() != nil {
		return 0 // shutting down: not the server's fault
	}
	res := "ok"
	if err != nil {
		res = ""
	}
	c.m.record(KindPing, entry(c.spec.addr, start, res, err))
	return c.m.observePing(c, err, latency, start)
}

// readOnly checks the pair's read-only variables.
func (c *checker) readOnly(ctx context.Context) {
	start := time.Now()
	vars := strings.Split(c.spec.roVars, ",")
	vals, err := c.queryReadOnly(vars)
	if ctx.Err() != nil {
		return
	}
	res := ""
	for _, v := range vars {
		if b, ok := vals[v]; ok {
			res += fmt.Sprintf("%s=%s ", v, onOff(b))
		}
	}
	c.m.record(KindReadOnly, entry(c.spec.addr, start, strings.TrimSpace(res), err))
	if c.netFailed(err) {
		return
	}
	c.m.observeReadOnly(c, vals, err)
}

func (c *checker) queryReadOnly(vars []string) (map[string]bool, error) {
	for {
		q := make([]string, len(vars))
		for i, v := range vars {
			q[i] = v
			if a, ok := c.roAlias[v]; ok {
				q[i] = a
			}
		}
		rs, err := query(c.conn, readOnlyQuery(q))
		if isCode(err, errUnknownSysVar) {
			if v := c.unaliased(q); v != "" {
				// MariaDB has no super_read_only: its read_only already
				// stops every user without READ_ONLY ADMIN.
				c.roAlias[v] = "read_only"
				c.note("alias:"+v, v+" is unknown on this server (MariaDB?): checking read_only instead",
					zap.String("variable", v))
				continue
			}
		}
		if err != nil {
			return nil, err
		}
		return parseReadOnly(rs, vars, c.roAlias)
	}
}

// unaliased returns a queried variable other than read_only that has no
// alias yet, or "".
func (c *checker) unaliased(q []string) string {
	for _, v := range q {
		if _, ok := c.roAlias[v]; !ok && v != "read_only" {
			return v
		}
	}
	return ""
}

// lag measures replication lag (SHOW REPLICA STATUS, and the heartbeat
// table when configured).
func (c *checker) lag(ctx context.Context) {
	start := time.Now()
	in := lagInput{heartbeat: c.spec.heartbeat != ""}
	in.rows, in.statusErr = c.replicaStatus()
	if ctx.Err() != nil {
		return
	}
	if c.netFailed(in.statusErr) {
		c.m.record(KindReplicationLag, entry(c.spec.addr, start, "", in.statusErr))
		return
	}
	if in.heartbeat {
		if in.statusErr != nil {
			c.note("status", "cannot read replica status; lag from the heartbeat table only",
				zap.Error(in.statusErr))
		}
		rs, err := query(c.conn, heartbeatQuery(c.spec.heartbeat))
		if ctx.Err() != nil {
			return
		}
		if c.netFailed(err) {
			c.m.record(KindReplicationLag, entry(c.spec.addr, start, "", err))
			return
		}
		if err == nil {
			in.hb, in.hbNull, err = parseHeartbeat(rs)
		}
		in.hbErr = err
	}
	s := lagFrom(in)
	if s.lag < 0 {
		c.m.record(KindReplicationLag, entry(c.spec.addr, start, "lag unknown", fmt.Errorf("%s", s.reason)))
		if in.statusErr == nil && len(in.rows) == 0 {
			c.note("empty", "server in a reader role does not replicate: SHOW REPLICA STATUS is empty; lag unknown")
		}
	} else {
		c.m.record(KindReplicationLag, entry(c.spec.addr, start, fmt.Sprintf("lag=%.3fs", s.lag), nil))
	}
	c.m.observeLag(c, s, start)
}

// replicaStatus runs SHOW REPLICA STATUS, falling back to SHOW SLAVE
// STATUS for good after a syntax error.
func (c *checker) replicaStatus() ([]replicaRow, error) {
	rs, err := query(c.conn, c.replicaSQL)
	if isCode(err, errParse) && c.replicaSQL == showReplicaStatus {
		c.replicaSQL = showSlaveStatus
		c.note("slave", "SHOW REPLICA STATUS is not supported: using SHOW SLAVE STATUS")
		rs, err = query(c.conn, c.replicaSQL)
	}
	if err != nil {
		return nil, err
	}
	return parseReplicaStatus(rs)
}

// groupReplication reads the member's role, state and view of the group.
func (c *checker) groupReplication(ctx context.Context) {
	start := time.Now()
	m, err := c.queryGR()
	if ctx.Err() != nil {
		return
	}
	res := "no member row"
	if err != nil {
		res = ""
	} else if m != nil {
		res = fmt.Sprintf("%s %s members=%d/%d transactions_behind=%d", m.role, m.state, m.viable, m.total, m.txBehind)
		if m.applyLag >= 0 {
			res += fmt.Sprintf(" apply_lag=%.3fs", m.applyLag)
		}
	}
	c.m.record(KindGroupReplication, entry(c.spec.addr, start, res, err))
	if c.netFailed(err) {
		return
	}
	c.m.observeGR(c, m, err, start)
}

func (c *checker) queryGR() (*grMember, error) {
	q := grQuery
	if c.grNoLag {
		q = grQueryNoLag
	}
	rs, err := query(c.conn, q)
	if !c.grNoLag && isCode(err, errBadField, errNoSuchTable, errUnknownTable) {
		if rs2, err2 := query(c.conn, grQueryNoLag); err2 == nil {
			c.grNoLag = true
			c.note("grlag", "replication_applier_status_by_worker has no apply timestamps here: group replication lag in transactions only",
				zap.Error(err))
			rs, err = rs2, nil
		}
	}
	if err != nil {
		return nil, err
	}
	return parseGR(rs)
}

func onOff(b bool) string {
	if b {
		return "ON"
	}
	return "OFF"
}
