package session

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/pool"
	"github.com/rwproxy/rwproxy/protocol"
	"github.com/rwproxy/rwproxy/router"
)

// Mirror sizes: the queue bounds the copies waiting (and so their
// memory, with mirrorMaxBytes); a copy that finds the queue full is
// dropped, never waited for.
const (
	mirrorQueue    = 1024
	mirrorWorkers  = 4
	mirrorMaxBytes = 1 << 20
	// mirrorTimeout bounds one copy: connecting, sending and reading the
	// reply. A copy past it fails and its connection is closed.
	mirrorTimeout = 10 * time.Second
)

// MirrorStats count the copies of statements sent to mirror hostgroups.
type MirrorStats struct {
	// Queued: copies accepted; Sent: run to their end on a mirror;
	// Failed: not run or failed there (connect, I/O, server error);
	// Dropped: not queued (the queue was full, the copy too large, or
	// the statement one that cannot be mirrored).
	Queued, Sent, Failed, Dropped atomic.Uint64
}

// Mirror sends copies of statements to mirror hostgroups (query rules'
// mirror_hostgroup) from a few worker goroutines, so that the client's
// statement never waits for them. Safe for concurrent use; Close stops
// the workers and waits for them.
type Mirror struct {
	pools  *pool.Manager
	picker MirrorPicker
	lg     *zap.Logger
	jobs   chan mirrorJob
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	Stats  MirrorStats
}

// mirrorJob is one copy: the text of a statement, or (exec not nil) a
// prepared statement's text and a COM_STMT_EXECUTE packet (header
// included) with its parameter types bound.
type mirrorJob struct {
	hg             int
	user, password string
	db             string
	query          string
	exec           []byte
}

// MirrorPicker chooses the server of a mirror hostgroup (Picker's Pick).
type MirrorPicker interface {
	Pick(hg int) (addr string, keep bool, err error)
}

// NewMirror starts the mirror workers.
func NewMirror(pools *pool.Manager, picker MirrorPicker, lg *zap.Logger) *Mirror {
	ctx, cancel := context.WithCancel(context.Background())
	m := &Mirror{pools: pools, picker: picker, lg: lg, jobs: make(chan mirrorJob, mirrorQueue), ctx: ctx, cancel: cancel}
	for range mirrorWorkers {
		m.wg.Go(m.work)
	}
	return m
}

// Close stops the workers (copies still queued are dropped) and waits.
func (m *Mirror) Close() {
	m.cancel()
	m.wg.Wait()
}

// enqueue queues j without waiting.
func (m *Mirror) enqueue(j mirrorJob) {
	if len(j.query)+len(j.exec) > mirrorMaxBytes {
		m.Stats.Dropped.Add(1)
		return
	}
	select {
	case m.jobs <- j:
		m.Stats.Queued.Add(1)
	default:
		m.Stats.Dropped.Add(1)
	}
}

func (m *Mirror) work() {
	var relay protocol.Relay
	for {
		select {
		case <-m.ctx.Done():
			return
		case j := <-m.jobs:
			if err := m.run(&relay, j); err != nil {
				m.Stats.Failed.Add(1)
				if ce := m.lg.Check(zap.DebugLevel, "mirror copy failed"); ce != nil {
					ce.Write(zap.Int("hostgroup", j.hg), zap.String("user", j.user), zap.Error(err))
				}
				continue
			}
			m.Stats.Sent.Add(1)
		}
	}
}

// errMirrorReply: the mirror answered with an error (counted as failed).
var errMirrorReply = errors.New("mirror: server returned an error")

// run sends one copy and reads its reply. The connection goes back to the
// pool only when the copy left it as it found it (no open transaction);
// otherwise it is closed.
func (m *Mirror) run(relay *protocol.Relay, j mirrorJob) error {
	addr, _, err := m.picker.Pick(j.hg)
	if err != nil {
		return fmt.Errorf("mirror: hostgroup %d: %w", j.hg, err)
	}
	ctx, cancel := context.WithTimeout(m.ctx, mirrorTimeout)
	defer cancel()
	c, err := m.pools.Get(ctx, pool.Key{Addr: addr, User: j.user, NoSchema: j.db == ""}, j.password)
	if err != nil {
		return err
	}
	_ = c.Packet().SetDeadline(time.Now().Add(mirrorTimeout))
	res, err := m.send(relay, c, j)
	// Only plain statements are copied (mirrorable), so the one state a
	// copy can leave is an open transaction (a server that starts one
	// implicitly); session trackers (GTIDs) report nothing that stays.
	if err != nil || res.Status&mysql.SERVER_STATUS_IN_TRANS != 0 {
		c.Discard()
		return err
	}
	_ = c.Packet().SetDeadline(time.Time{})
	c.Recycle()
	if res.Err != nil {
		return fmt.Errorf("%w: %d", errMirrorReply, res.Err.Code)
	}
	return nil
}

// send runs the copy on c.
func (m *Mirror) send(relay *protocol.Relay, c *pool.Conn, j mirrorJob) (protocol.Response, error) {
	if j.db != "" && c.DB != j.db {
		if _, err := c.Execute("USE " + quoteIdent(j.db)); err != nil {
			return protocol.Response{}, err
		}
		c.DB = j.db
	}
	pkt := j.exec
	if pkt == nil {
		pkt = comQuery(j.query)
	} else {
		bs, me, err := prepareOn(relay, c, j.query)
		if err != nil {
			return protocol.Response{}, err
		}
		if me != nil { // the mirror refused the prepare: its answer, not a failure of the copy
			return protocol.Response{Err: me}, nil //nolint:nilerr // me is the server's answer, carried in the Response
		}
		binary.LittleEndian.PutUint32(pkt[5:9], bs.ID)
	}
	bp := c.Packet()
	bp.ResetSequence()
	if err := bp.WritePacket(pkt); err != nil {
		return protocol.Response{}, fmt.Errorf("%w: %v", protocol.ErrBackendIO, err)
	}
	return relay.Forward(nil, c.Reader())
}

// comQuery is a COM_QUERY packet (header space included) for q.
func comQuery(q string) []byte {
	return append([]byte{0, 0, 0, 0, mysql.COM_QUERY}, q...)
}

// quoteIdent quotes a schema name for USE.
func quoteIdent(s string) string {
	out := []byte{'`'}
	for i := 0; i < len(s); i++ {
		if s[i] == '`' {
			out = append(out, '`')
		}
		out = append(out, s[i])
	}
	return string(append(out, '`'))
}

// mirrorable reports whether a statement may be copied: a plain read or
// write (session state, transactions and LOAD DATA LOCAL stay with the
// client's own connection).
func mirrorable(st *router.Stmt) bool {
	return (st.Kind == router.KindRead || st.Kind == router.KindWrite) &&
		st.Flags&(router.FlagParseError|router.FlagLoadLocal|router.FlagCreateTempTable|router.FlagGetLock|
			router.FlagLockTables|router.FlagPrepareSQL|router.FlagUserVarWrite|router.FlagHandler|
			router.FlagSetOther|router.FlagKill) == 0
}

// mirrorText returns the copy of text statement sql the rules asked for
// (ok false: none). It is taken before the statement runs: the session's
// schema and the statement are those the client sent.
func (s *Session) mirrorText(r *request, st *router.Stmt, sql string) (j mirrorJob, ok bool) {
	mt := r.rule.mirror
	if !mt.hasHG || s.d.Mirror == nil {
		return j, false
	}
	if !mirrorable(st) {
		s.d.Mirror.Stats.Dropped.Add(1)
		return j, false
	}
	q := mt.query
	if q == "" {
		q = string([]byte(sql)) // sql may alias the packet buffer
	}
	return mirrorJob{hg: mt.hg, user: s.user.Username, password: s.user.Password, db: s.st.db, query: q}, true
}

// mirrorExec returns the copy of an execute of ps (pkt: the client's
// packet, parameters laid out at typesAt, bound: types sent).
func (s *Session) mirrorExec(r *request, ps *prepared, pkt []byte, typesAt int, bound bool) (j mirrorJob, ok bool) {
	mt := r.rule.mirror
	if !mt.hasHG || s.d.Mirror == nil {
		return j, false
	}
	if !mirrorable(&ps.st) || len(ps.long.chunks) > 0 || (ps.params > 0 && !bound && len(ps.types) != 2*ps.params) {
		s.d.Mirror.Stats.Dropped.Add(1)
		return j, false
	}
	var exec []byte
	if ps.params > 0 && !bound {
		exec = withTypes(pkt, 4+typesAt, ps.types)
	} else {
		exec = append([]byte(nil), pkt...)
	}
	q := ps.query
	if mt.query != "" {
		q, exec = mt.query, nil // rewritten apart for the mirror: no prepared form of it
		if ps.params > 0 {
			s.d.Mirror.Stats.Dropped.Add(1)
			return j, false
		}
	}
	return mirrorJob{hg: mt.hg, user: s.user.Username, password: s.user.Password, db: s.st.db, query: q, exec: exec}, true
}

// sendMirror queues a copy taken by mirrorText or mirrorExec.
func (s *Session) sendMirror(j mirrorJob, ok bool) {
	if ok {
		s.d.Mirror.enqueue(j)
	}
}
