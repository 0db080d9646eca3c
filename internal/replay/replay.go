package replay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/rwproxy/rwproxy/capture"
)

// Options describe one replay.
type Options struct {
	From     string // capture directory
	To       string // host:port
	User     string
	Password string
	// Speed divides the captured offsets (2: twice as fast); <= 0 means 1.
	Speed float64
	// ReadOnly replays only reads (SELECT, SHOW, DESCRIBE, EXPLAIN, WITH).
	ReadOnly bool
}

// session is one captured session to replay.
type session struct {
	state capture.Record
	stmts []capture.Record
}

// outcome of one replayed statement.
type outcome struct {
	digest     string
	captured   time.Duration
	replayed   time.Duration
	skipped    bool
	unexpected string // an error the capture did not have
	mismatch   string // rows or error differ
	checksum   bool   // the mismatch is the rows' checksum only
	rows       bool   // the mismatch is in the rows (count or checksum)
	orderDep   bool   // the rows differ on a read whose result the capture's order does not determine (overlap.go)
	sql        string
}

// load reads the capture in dir: sessions by id, statements in order.
func load(dir string) (map[uint32]*session, error) {
	files, err := capture.Files(dir)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("replay: no capture files in %s", dir)
	}
	out := map[uint32]*session{}
	for _, f := range files {
		recs, err := capture.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			switch r.Type {
			case capture.TypeSession:
				if out[r.Session] == nil {
					out[r.Session] = &session{state: r}
				}
			case capture.TypeStmt:
				s := out[r.Session]
				if s == nil {
					s = &session{state: capture.Record{Session: r.Session, DB: r.DB}}
					out[r.Session] = s
				}
				if r.SQL == "" {
					return nil, errors.New("replay: the capture was made with REDACT: it has no statement text to replay")
				}
				s.stmts = append(s.stmts, r)
			}
		}
	}
	for _, s := range out {
		slices.SortStableFunc(s.stmts, func(a, b capture.Record) int { return int(a.T - b.T) })
	}
	return out, nil
}

// Run replays the capture and returns every statement's outcome.
func Run(ctx context.Context, o Options) (*Report, error) {
	sessions, err := load(o.From)
	if err != nil {
		return nil, err
	}
	if o.Speed <= 0 {
		o.Speed = 1
	}
	var (
		mu  sync.Mutex
		all []outcome
		wg  sync.WaitGroup
	)
	list := make([]*session, 0, len(sessions))
	for _, s := range sessions {
		list = append(list, s)
	}
	slices.SortFunc(list, func(a, b *session) int { return int(a.state.Session) - int(b.state.Session) })
	ord, tickets := newOrder(list)
	dep := orderDependent(list)
	start := time.Now()
	for i, s := range list {
		wg.Go(func() {
			res := replaySession(ctx, o, s, start, ord, tickets[i], dep[i])
			mu.Lock()
			all = append(all, res...)
			mu.Unlock()
		})
	}
	wg.Wait()
	r := newReport(o, all, time.Since(start))
	r.OrderReleased = ord.releasedCount()
	return r, nil
}

// isRead reports a statement --read-only replays.
func isRead(digest string) bool {
	d := strings.ToUpper(strings.TrimLeft(digest, " \t\r\n("))
	for _, p := range []string{"SELECT", "SHOW", "DESC", "EXPLAIN", "WITH"} {
		if strings.HasPrefix(d, p) {
			return !strings.Contains(d, " FOR UPDATE") && !strings.Contains(d, "LOCK IN SHARE MODE")
		}
	}
	return false
}

// conn is one replay connection with its prepared statements.
type conn struct {
	o     Options
	c     *client.Conn
	db    string
	stmts map[string]*client.Stmt
	types map[string][]byte
	// onWrite, when set, is called (then cleared) once the next request
	// bytes are written to the socket: the statement is then sent
	// (order.go). Only the session's goroutine uses it.
	onWrite func()
}

// hookConn calls its conn's onWrite after a write.
type hookConn struct {
	net.Conn
	c *conn
}

func (h hookConn) Write(b []byte) (int, error) {
	n, err := h.Conn.Write(b)
	if f := h.c.onWrite; f != nil {
		h.c.onWrite = nil
		f()
	}
	return n, err
}

func (c *conn) connect() error {
	var d net.Dialer
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return hookConn{Conn: nc, c: c}, nil
	}
	cl, err := client.ConnectWithDialer(context.Background(), "tcp", c.o.To, c.o.User, c.o.Password, c.db, dial)
	if err != nil {
		return err
	}
	c.c, c.stmts, c.types = cl, map[string]*client.Stmt{}, map[string][]byte{}
	return nil
}

func (c *conn) close() {
	if c.c != nil {
		_ = c.c.Close()
	}
}

// replaySession runs one session's statements on its own connection, each
// at its captured offset (scaled) and after the statements that preceded
// it in the capture (order.go). tk are the statements' tickets; dep marks
// the order-dependent reads (overlap.go).
func replaySession(ctx context.Context, o Options, s *session, start time.Time, ord *order, tk []ticket, dep []bool) []outcome {
	out := make([]outcome, 0, len(s.stmts))
	c := &conn{o: o, db: s.state.DB}
	defer c.close()
	connErr := c.connect()
	if connErr == nil && s.state.Autocommit != nil && !*s.state.Autocommit {
		_, connErr = c.c.Execute("SET autocommit = 0")
	}
	for i, r := range s.stmts {
		oc := outcome{digest: r.Digest, captured: time.Duration(r.DurUS) * time.Microsecond, sql: r.SQL}
		if o.ReadOnly && !isRead(r.Digest) {
			oc.skipped = true
			out = append(out, oc)
			ord.done(tk[i])
			continue
		}
		if connErr != nil {
			oc.unexpected = "connect: " + connErr.Error()
			out = append(out, oc)
			ord.done(tk[i])
			continue
		}
		if !wait(ctx, start.Add(time.Duration(float64(r.T)/o.Speed))) || !ord.wait(ctx, tk[i]) {
			break
		}
		c.onWrite = func() { ord.sent(tk[i]) }
		rows, sum, dur, err := c.run(r)
		c.onWrite = nil
		ord.done(tk[i]) // and sent, if it never reached the socket
		oc.replayed = dur
		compare(&oc, r, rows, sum, err)
		oc.orderDep = oc.rows && dep[i]
		out = append(out, oc)
		var me *mysql.MyError
		if err != nil && !errors.As(err, &me) { // connection lost: start again
			c.close()
			c.c = nil
			connErr = c.connect()
		}
	}
	return out
}

// wait sleeps until t; false when ctx ends first.
func wait(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

// run executes one captured statement and returns the rows it returned
// and their checksum (capture.Record.Checksum).
func (c *conn) run(r capture.Record) (int, string, time.Duration, error) {
	if r.DB != "" && r.DB != c.db {
		if err := c.c.UseDB(r.DB); err != nil {
			return 0, "", 0, err
		}
		c.db = r.DB
	}
	t0 := time.Now()
	var res *mysql.Result
	var err error
	if r.Cmd == "execute" {
		res, err = c.execute(r)
	} else {
		res, err = c.c.Execute(r.SQL)
	}
	dur := time.Since(t0)
	if err != nil {
		return 0, "", dur, err
	}
	defer res.Close()
	if res.Resultset == nil {
		return 0, "", dur, nil
	}
	var sum uint64
	for _, row := range res.RowDatas {
		sum += xxhash.Sum64(row)
	}
	if sum == 0 {
		return len(res.Values), "", dur, nil
	}
	return len(res.Values), fmt.Sprintf("%016x", sum), dur, nil
}

func (c *conn) execute(r capture.Record) (*mysql.Result, error) {
	st := c.stmts[r.SQL]
	if st == nil {
		var err error
		if st, err = c.c.Prepare(r.SQL); err != nil {
			return nil, err
		}
		c.stmts[r.SQL] = st
	}
	block, err := hexDecode(r.Params)
	if err != nil {
		return nil, err
	}
	args, types, err := decodeParams(block, st.ParamNum(), c.types[r.SQL])
	if err != nil {
		return nil, err
	}
	c.types[r.SQL] = types
	return st.Execute(args...)
}

// transient reports the errors that depend on the interleaving of
// sessions, not on the statement: deadlock and lock wait timeout.
func transient(code uint16) bool {
	return code == mysql.ER_LOCK_DEADLOCK || code == mysql.ER_LOCK_WAIT_TIMEOUT
}

// compare fills oc's differences between the capture and the replay.
func compare(oc *outcome, r capture.Record, rows int, sum string, err error) {
	var me *mysql.MyError
	switch {
	case err == nil && transient(r.Err):
		// A deadlock or lock wait timeout in the capture that the replay
		// did not meet: the client's own reaction (its ROLLBACK, a retry)
		// is in the capture and replays next. Not a difference.
	case err == nil && r.Err != 0:
		oc.mismatch = fmt.Sprintf("captured error %d, replay succeeded", r.Err)
	case err != nil && !errors.As(err, &me):
		oc.unexpected = err.Error()
	case err != nil && r.Err == 0:
		oc.unexpected = fmt.Sprintf("error %d: %s", me.Code, me.Message)
	case err != nil && me.Code != r.Err:
		oc.mismatch = fmt.Sprintf("captured error %d, replay error %d", r.Err, me.Code)
	case err == nil && rows != r.Rows:
		oc.mismatch = fmt.Sprintf("captured %d rows, replay %d", r.Rows, rows)
		oc.rows = true
	case err == nil && r.Checksum != "" && sum != r.Checksum:
		oc.mismatch = fmt.Sprintf("%d rows, captured checksum %s, replay %s", rows, r.Checksum, sum)
		oc.checksum, oc.rows = true, true
	}
}
