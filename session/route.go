package session

import (
	"time"
	"unsafe"

	"github.com/go-mysql-org/go-mysql/mysql"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/pool"
	"github.com/rwproxy/rwproxy/protocol"
	"github.com/rwproxy/rwproxy/qcache"
	"github.com/rwproxy/rwproxy/router"
)

// Routing is the routing state of one configuration, rebuilt when the
// configuration changes. It is immutable.
type Routing struct {
	Rules *router.Rules
	// ReaderOf maps a writer hostgroup to its reader hostgroup
	// (replication_hostgroups).
	ReaderOf map[int]int
	// FallbackError: a read with no usable reader fails instead of going
	// to the writer (reader_fallback: error).
	FallbackError bool
	// FailoverBuffer is how long a statement waits for its writer
	// hostgroup to get a usable server (a failover in progress).
	FailoverBuffer time.Duration
	// QueryTimeout is the global statement timeout (0 = none); users'
	// and rules' own timeouts take precedence.
	QueryTimeout time.Duration
	// Firewall is the allow-list firewall (nil: no user is under it).
	Firewall *FirewallView
	// Replay is the transaction_replay settings (txreplay.go).
	Replay ReplayConfig
	// QueryCache is the query cache while some rule sets a cache_ttl;
	// nil otherwise (docs/query-cache.md).
	QueryCache *qcache.Cache
}

// target is where one statement runs.
type target struct {
	hg     int
	writer int
	reader bool // the hostgroup is the writer's reader hostgroup
	// idem: a query rule marks the statement idempotent (re-run once when
	// its connection is lost in autocommit, see runStmt).
	idem bool
	// detached: a read of a transaction_persistent=0 user that runs
	// outside its transaction, on a connection of its own (txnpersist.go).
	detached bool
	dec      router.Decision
	// sql is the statement as the backend receives it (after the rules'
	// replace_pattern).
	sql string
}

// bytesToString views b as a string without copying. The classifier never
// retains its input (router.Stmt holds copies), and b is not modified
// while the string is in use.
func bytesToString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// route decides where st goes. A query rule's error_msg comes back as a
// client error.
func (s *Session) route(r *request, st *router.Stmt, sql string) (target, *mysql.MyError) {
	s.takeHeld(st)
	if s.txnAborted {
		switch st.Kind {
		case router.KindRollback, router.KindBegin:
			s.txnAborted = false // the client ends it, or starts anew
		default:
			return target{}, errTxnAborted
		}
	}
	rt := s.d.Routing()
	dec := router.Route(st, router.View{Pinned: s.pinned != nil, Autocommit: s.st.autocommit()})
	if s.roTxn && s.inTxn && st.Kind == router.KindWrite && st.Flags&router.FlagParseError == 0 {
		// The replica would say "--read-only"; a server says this.
		return target{}, &mysql.MyError{Code: mysql.ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION, State: "25006",
			Message: "Cannot execute statement in a READ ONLY transaction"}
	}
	if s.pins&PinNextStatement != 0 {
		s.pins &^= PinNextStatement
	}
	detached := dec.Target == router.TargetPinned && s.leavesTxn(st)
	if detached {
		dec = router.Route(st, router.View{Autocommit: true}) // as outside the transaction
	}
	if s.user.SchemaLocked && st.Kind == router.KindUse {
		if me := schemaLocked(s.user, useTarget(sql)); me != nil {
			return target{}, me
		}
	}
	if s.user.FastForward && dec.Target != router.TargetPinned {
		// fast_forward: no split and no rules, the default hostgroup
		// serves everything (the rules' timeouts still apply below).
		dec = router.Decision{Target: router.TargetWriter, Reason: router.ReasonFastForward}
	}
	var ruleTimeout time.Duration
	var m router.RuleMatch
	var digest string
	var idem bool
	// A pinned statement ignores the rules' destination and error, but
	// not their timeout nor their rewriting.
	if !rt.Rules.Empty() && (dec.Target != router.TargetPinned || rt.Rules.HasTimeouts() || rt.Rules.HasRewrites() ||
		rt.Rules.HasMirrors()) {
		if st.Digest == "" && rt.Rules.NeedsDigest() {
			st.Digest = s.cls.Digest(sql) // kept: see below
		}
		digest = st.Digest
		m = s.matchRules(rt.Rules, digest, sql)
		ruleTimeout = m.Timeout
		if m.Rewritten != "" && r.exec.ps == nil { // an execute's text was rewritten at prepare
			sql = s.applyRewrite(st, m.Rewritten)
			if dec.Target != router.TargetPinned && dec.Reason != router.ReasonFastForward {
				dec = router.Route(st, router.View{Autocommit: s.st.autocommit() || detached})
			}
		}
		r.cache = m.Cache
		idem = m.Idempotent
		if dec.Target != router.TargetPinned && dec.Reason != router.ReasonFastForward {
			if m.ErrorMsg != "" {
				return target{}, s.ruleBlocked(&m, digest, sql)
			}
			if m.HasHostgroup {
				dec = router.Decision{Target: router.TargetHostgroup, Hostgroup: m.Hostgroup, Reason: router.ReasonRule}
			}
		}
	}
	if me := s.firewall(rt.Firewall, st, sql); me != nil {
		return target{}, me
	}
	if m.RuleID != 0 {
		s.ruleActions(r, rt.Rules, &m, digest, sql) // only for a statement that runs
	}
	dec = s.stickyTarget(dec)
	r.timeout = effectiveTimeout(ruleTimeout, s.user.QueryTimeout, rt.QueryTimeout)
	s.d.Stats.Routes[dec.Reason].Add(1)
	t := target{writer: s.user.DefaultHostgroup, hg: s.user.DefaultHostgroup, dec: dec, idem: idem}
	switch dec.Target {
	case router.TargetReader:
		if rg, ok := rt.ReaderOf[t.writer]; ok {
			t.hg, t.reader = rg, true
		}
	case router.TargetHostgroup:
		t.hg = dec.Hostgroup
	}
	s.noteSticky(&m, t.hg)
	t.sql = sql
	// Routed to the transaction's own hostgroup, the read stays on the
	// transaction's connection, as in ProxySQL.
	t.detached = detached && (t.reader || t.hg != t.writer)
	r.detached = t.detached
	r.flags = st.Flags
	r.nextTxn = nextTxnOnly(st)
	s.txNote(st, sql)
	r.hg = t.hg
	s.publishProc(t.hg, sql)
	r.cmd = commandOf(sql, st.Flags&router.FlagLockingRead != 0)
	r.digest = ""
	if s.d.Digests != nil {
		if st.Digest == "" {
			// Kept in st: for COM_STMT_EXECUTE st is the prepared
			// statement's classification, so its digest is computed at
			// its first execute only (it is fixed, like the
			// classification, at the sql_mode of that moment).
			st.Digest = s.cls.Digest(sql)
		}
		r.digest = st.Digest
	}
	return t, nil
}

// nextTxnOnly reports a SET TRANSACTION that applies to the next
// transaction only: the connection must serve that transaction.
func nextTxnOnly(st *router.Stmt) bool {
	if st.Flags&router.FlagSetTransaction == 0 {
		return false
	}
	for _, v := range st.SetVars {
		if v.Scope == router.ScopeNextTxn {
			return true
		}
	}
	return false
}

// takeHeld gives the held connection to a statement that asks about the
// previous one (SHOW WARNINGS, FOUND_ROWS()), and returns it to the pool
// otherwise.
func (s *Session) takeHeld(st *router.Stmt) {
	c := s.takeHeldConn()
	if c == nil {
		return
	}
	if s.pinned == nil && st.Flags&(router.FlagPrevStmtInfo|router.FlagFoundRows) != 0 {
		s.pinned = c
		s.pins |= PinNextStatement
		return
	}
	c.Recycle()
}

// acquireFor returns the connection for t: the pinned one, a reader (which
// falls back to the writer when no reader can take the statement, or when
// read-your-writes cannot be satisfied there in time), or a connection of
// t.hg.
func (s *Session) acquireFor(t *target) (*pool.Conn, *mysql.MyError) {
	if t.detached {
		return s.acquireDetached(t)
	}
	if s.pinned != nil {
		return s.pinned, nil
	}
	if !t.reader {
		s.d.Stats.ToWriter.Add(1)
		return s.acquireWriter(t.hg)
	}
	c, me := s.acquire(t.hg)
	if me == nil {
		if want := s.rywWant(); want != nil {
			ok, broken := s.caughtUp(c, want)
			if ok {
				c.Stats().GTIDSync.Add(1)
			} else {
				if broken {
					c.Discard() // a failed wait leaves the connection in an unknown state
				} else {
					c.Recycle()
				}
				s.d.Stats.RYWFallbacks.Add(1)
				t.hg, t.reader = t.writer, false
				s.d.Stats.ToWriter.Add(1)
				return s.acquire(t.hg)
			}
		}
	}
	if me == nil {
		s.d.Stats.ToReader.Add(1)
		return c, nil
	}
	if s.d.Routing().FallbackError && me.Code == protocol.ErrCodeNoBackend {
		return nil, protocol.NewErrNoReader(t.hg)
	}
	s.d.Stats.ReaderFallbacks.Add(1)
	s.d.Stats.ToWriter.Add(1)
	t.hg, t.reader = t.writer, false
	return s.acquireWriter(t.hg)
}

// failoverPoll is how often a buffered statement looks for a new writer.
const failoverPoll = 25 * time.Millisecond

// acquireWriter is acquire for a writer hostgroup: when the hostgroup has
// no usable server (its primary died and the monitor has not seen the new
// one yet), the statement waits up to the failover buffer instead of
// failing at once.
func (s *Session) acquireWriter(hg int) (*pool.Conn, *mysql.MyError) {
	c, me := s.acquire(hg)
	if me == nil || !writerGone(me) {
		return c, me
	}
	if me.Code != protocol.ErrCodeNoBackend {
		return s.bufferWrite(hg, me)
	}
	// The monitor may shun a live writer (checks timing out on a loaded
	// machine): try the shunned one before declaring the writer gone.
	if addr, err := s.d.Picker.LastResort(hg); err == nil {
		c, me2 := s.acquireAddr(hg, addr)
		if me2 == nil {
			return c, nil
		}
		me = me2 // a real connect error says more than "no backend"
	}
	return s.bufferWrite(hg, me)
}

// writerGone reports an error that a failover explains: no usable writer,
// the writer refusing connections (it died and the monitor has not
// shunned it yet), or a pooled connection to it lost while brought to the
// session's state (acquire's sync: nothing of the statement was sent).
func writerGone(me *mysql.MyError) bool {
	return me.Code == protocol.ErrCodeNoBackend || me.Code == protocol.ErrCodeBackendConnect ||
		me.Code == protocol.ErrCodeBackendLost
}

// bufferWrite waits up to the failover buffer for hostgroup hg to give a
// connection, re-picking every failoverPoll; me is returned when the
// buffer runs out (or is off).
func (s *Session) bufferWrite(hg int, me *mysql.MyError) (*pool.Conn, *mysql.MyError) {
	buf := s.d.Routing().FailoverBuffer
	if buf <= 0 {
		if me.Code == protocol.ErrCodeNoBackend {
			return nil, protocol.NewErrNoWriter(hg, 0, "")
		}
		return nil, me // the connect error, logged by acquireAddr
	}
	s.d.Stats.FailoverWaits.Add(1)
	s.checkNow()
	s.quietConnect = true
	defer func() { s.quietConnect = false }()
	deadline := time.NewTimer(buf)
	defer deadline.Stop()
	tick := time.NewTicker(failoverPoll)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return nil, me
		case <-deadline.C:
			return nil, s.noWriter(hg, buf, me)
		case <-tick.C:
			s.checkNow() // keeps the monitor's checks frequent while waiting
			c, me2 := s.acquire(hg)
			if me2 == nil || !writerGone(me2) {
				return c, me2
			}
			if me2.Code != protocol.ErrCodeNoBackend {
				me = me2
			}
		}
	}
}

// noWriter is the client's error for a write that found no usable writer
// in hostgroup hg after waiting waited; me is the last attempt's error. It
// is logged once, at Warn, with the last connect error's detail.
func (s *Session) noWriter(hg int, waited time.Duration, me *mysql.MyError) *mysql.MyError {
	var reason string
	fields := []zap.Field{zap.Int("hostgroup", hg), zap.Duration("waited", waited)}
	if me.Code == protocol.ErrCodeBackendConnect && s.lastConnErr != nil {
		reason = protocol.ConnectReason(s.lastConnErr)
		fields = append(fields, zap.NamedError("last_error", s.lastConnErr))
	}
	s.lastConnErr = nil
	s.log().Warn("no writer available: statement failed", fields...)
	return protocol.NewErrNoWriter(hg, waited, reason)
}

// op is how a request is sent and its response relayed.
type op uint8

const (
	opQuery op = iota
	opFieldList
	opStatistics
	opExecute
)

func (s *Session) do(r *request, c *pool.Conn, pkt []byte, o op) (protocol.Response, error) {
	switch o {
	case opFieldList:
		return s.send(c, pkt, fwdFieldList)
	case opStatistics:
		return s.send(c, pkt, fwdOne)
	case opExecute:
		return s.execute(r, c, pkt)
	}
	if pkt[4] == mysql.COM_QUERY {
		pkt, _ = s.forBackend(c, pkt, nil) // cannot fail for a query
	}
	return s.send(c, pkt, fwdResult)
}

// writerTarget is for commands that are not statements (COM_FIELD_LIST,
// COM_STATISTICS, COM_INIT_DB): they run on the pinned connection or the
// writer.
func (s *Session) writerTarget() target {
	s.takeHeld(&router.Stmt{})
	s.pins &^= PinNextStatement
	return target{hg: s.user.DefaultHostgroup, writer: s.user.DefaultHostgroup}
}

// runStmt runs one request on t's connection and relays the response. A
// read that fails on a reader before any byte reached the client runs once
// more on another server (see retryRead).
func (s *Session) runStmt(r *request, pkt []byte, t target, o op) error {
	if s.span != nil {
		s.span.PoolStart, s.span.Reason = timeNow(), t.dec.Reason.String()
	}
	c, me := s.acquireFor(&t)
	if me != nil {
		return s.writeErr(me)
	}
	r.hg, r.detached = t.hg, t.detached
	if r.flags&router.FlagLastInsertID != 0 {
		if err := s.syncLastInsertID(c); err != nil {
			s.dropConn(c)
			return s.writeErr(s.lostErr())
		}
	}
	start := timeNow()
	// A detached read is not re-run: retryRead would drop the session's
	// transaction state along with the failed connection.
	retry := ((t.reader && !t.detached) || s.idempotentRetry(&t)) && len(pkt) < mysql.MaxPayloadLen
	s.txBegin(r, pkt, o, &t)
	if s.commitCheckDue() {
		if done, err := s.markBeforeCommit(r, c, &t, pkt, o, start); done {
			return err
		}
	}
	s.relayConn = c
	res, err := s.doTimed(r, c, pkt, o)
	s.relayConn = nil
	if s.txLost(res, err) {
		return s.txRecover(r, c, &t, pkt, o, res, err, start)
	}
	// Once by default; a query rule's retries may say 0 or more (reads:
	// an idempotent write is re-run once at most).
	n := s.readRetries(r)
	if !t.reader {
		n = min(n, 1)
	}
	for ; err != nil && retry && n > 0 && !res.Sent && !isClientErr(err); n-- {
		if s.span != nil {
			s.span.Retries++
		}
		if c, me = s.retryRead(r, c, &t, err); me != nil {
			return s.writeErr(me)
		}
		s.relayConn = c
		res, err = s.doTimed(r, c, pkt, o)
		s.relayConn = nil
		if err != nil {
			s.d.Stats.ReadRetryFailures.Add(1)
		}
	}
	return s.finishRec(r, c, res, err, start)
}

// retryRead discards the reader connection c on which a read (autocommit,
// not pinned: t.reader) failed before any byte of its reply reached the
// client, and returns a connection for the read's second and last attempt:
// another server of the reader hostgroup, picked as any read is (so the
// consistency rules, read-your-writes included, hold), or the writer when
// the pick lands on the server that just failed. Only reads are re-run: a
// write whose outcome is unknown never is (finish answers it).
func (s *Session) retryRead(r *request, c *pool.Conn, t *target, err error) (*pool.Conn, *mysql.MyError) {
	failed := c.Addr()
	if !t.reader {
		return s.retryIdempotent(c, t, err)
	}
	s.log().Info("read failed on a replica before any reply: re-running it on another server",
		zap.String("backend_addr", failed), zap.Error(err))
	s.dropConn(c)
	s.d.Stats.ReadRetries.Add(1)
	again := *t
	c, me := s.acquireFor(&again) // falls back to the writer as a read does
	if me != nil {
		s.d.Stats.ReadRetryFailures.Add(1)
		return nil, me
	}
	if c.Addr() != failed {
		*t = again
		r.hg = t.hg
		return c, nil
	}
	c.Discard() // the failed server again: its connections are suspect
	if s.d.Routing().FallbackError {
		s.d.Stats.ReadRetryFailures.Add(1)
		return nil, protocol.NewErrNoReader(t.hg)
	}
	s.d.Stats.ReaderFallbacks.Add(1)
	t.hg, t.reader = t.writer, false
	r.hg = t.hg
	c, me = s.acquireWriter(t.hg)
	if me != nil {
		s.d.Stats.ReadRetryFailures.Add(1)
	}
	return c, me
}
