package capture

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Defaults of Options.
const (
	DefaultQueueSize = 8192
	DefaultFileBytes = 64 << 20
	DefaultMaxBytes  = 1 << 30
)

// Options describe one capture.
type Options struct {
	// Dir receives the files; it is created if missing and must not hold
	// capture files already.
	Dir string
	// Duration ends the capture (0: until Stop).
	Duration time.Duration
	// Redact leaves statement text and parameters out: records carry the
	// digest and the SHA-256 of the text instead.
	Redact bool
	// QueueSize bounds the records waiting for the writer; FileBytes
	// starts a new file; MaxBytes (compressed bytes in all files) ends the
	// capture. 0: the defaults.
	QueueSize           int
	FileBytes, MaxBytes int64
}

// Stmt is a finished statement as a session reports it. Strings may alias
// the session's buffers: Record copies what it keeps.
type Stmt struct {
	Start      time.Time
	Session    uint32
	User, DB   string
	Autocommit bool
	InTxn      bool
	// Execute: a COM_STMT_EXECUTE (SQL is the prepared statement's text,
	// Params its parameter block); otherwise a COM_QUERY.
	Execute   bool
	SQL       string
	Digest    string
	Params    []byte
	Dur       time.Duration
	Rows      int
	Bytes     int
	RowSum    uint64
	Err       uint16
	Hostgroup int
	Backend   string
}

// Summary describes a capture.
type Summary struct {
	Dir              string
	Started, Ended   time.Time
	Written, Dropped uint64
	Files            int
	Bytes            int64
	// Reason says why it ended: "stop", "duration", "size cap", or a write
	// error.
	Reason string
}

// ErrRunning is Start's answer while a capture runs; ErrNotRunning is
// Stop's when none does.
var (
	ErrRunning    = errors.New("capture: a capture is already running")
	ErrNotRunning = errors.New("capture: no capture is running")
)

// Capturer runs one capture at a time. Safe for concurrent use.
type Capturer struct {
	mu   sync.Mutex // Start and Stop
	cur  atomic.Pointer[run]
	last atomic.Pointer[Summary]
}

// Active reports whether a capture runs (one atomic load).
func (c *Capturer) Active() bool { return c.cur.Load() != nil }

// Last is the summary of the last capture that ended, nil if none.
func (c *Capturer) Last() *Summary { return c.last.Load() }

// Start begins a capture. The first file is created before Start returns,
// so a directory that cannot be written fails here.
func (c *Capturer) Start(o Options) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur.Load() != nil {
		return ErrRunning
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.FileBytes <= 0 {
		o.FileBytes = DefaultFileBytes
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	if old, _ := Files(o.Dir); len(old) > 0 {
		return fmt.Errorf("capture: %s already holds a capture (%d files)", o.Dir, len(old))
	}
	r := &run{c: c, o: o, start: time.Now(), ch: make(chan Record, o.QueueSize),
		stop: make(chan string, 1), done: make(chan struct{}), seen: make(map[uint32]bool)}
	if err := r.open(); err != nil {
		return err
	}
	c.cur.Store(r)
	go r.loop()
	return nil
}

// Stop ends the running capture and returns its summary once the files
// are complete.
func (c *Capturer) Stop() (Summary, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.cur.Load()
	if r == nil {
		return Summary{}, ErrNotRunning
	}
	select {
	case r.stop <- "stop":
	default:
	}
	<-r.done
	return *c.last.Load(), nil
}

// Record queues st for the running capture; it never blocks: with the
// queue full the record is dropped and counted.
func (c *Capturer) Record(st *Stmt) {
	r := c.cur.Load()
	if r == nil || r.closing.Load() {
		return
	}
	rec := Record{Type: TypeStmt, T: max(st.Start.Sub(r.start).Nanoseconds(), 1), Session: st.Session,
		User: st.User, DB: st.DB, InTxn: st.InTxn, Cmd: "query", Digest: st.Digest,
		DurUS: st.Dur.Microseconds(), Rows: st.Rows, Bytes: st.Bytes, Err: st.Err, Checksum: checksum(st.RowSum),
		Hostgroup: st.Hostgroup, Backend: st.Backend}
	ac := st.Autocommit
	rec.Autocommit = &ac
	if st.Execute {
		rec.Cmd = "execute"
	}
	if r.o.Redact {
		sum := sha256.Sum256([]byte(st.SQL))
		rec.Hash = hex.EncodeToString(sum[:])
	} else {
		rec.SQL = strings.Clone(st.SQL)
		if len(st.Params) > 0 {
			rec.Params = hex.EncodeToString(st.Params)
		}
	}
	select {
	case r.ch <- rec:
	default:
		r.dropped.Add(1)
	}
}

// checksum is a row checksum as recorded: 16 hex digits, "" for none.
func checksum(sum uint64) string {
	if sum == 0 {
		return ""
	}
	return fmt.Sprintf("%016x", sum)
}

// run is one capture; its loop goroutine owns the files.
type run struct {
	c       *Capturer
	o       Options
	start   time.Time
	ch      chan Record
	stop    chan string
	done    chan struct{}
	dropped atomic.Uint64
	closing atomic.Bool // set by loop when it stops taking records

	// Owned by loop (and open, before loop starts).
	seen    map[uint32]bool
	written uint64
	files   int
	bytes   int64 // compressed bytes of the closed files
	f       *os.File
	cw      *countWriter
	zw      *gzip.Writer
	enc     *json.Encoder
}

// countWriter counts the compressed bytes written to the file.
type countWriter struct {
	w *bufio.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// open starts the next file with its header.
func (r *run) open() error {
	r.files++
	name := filepath.Join(r.o.Dir, fmt.Sprintf("capture-%06d.jsonl.gz", r.files))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	r.f, r.cw = f, &countWriter{w: bufio.NewWriterSize(f, 64<<10)}
	r.zw = gzip.NewWriter(r.cw)
	r.enc = json.NewEncoder(r.zw)
	r.seen = make(map[uint32]bool) // each file describes its sessions
	return r.enc.Encode(Record{Type: TypeHeader, Version: FormatVersion,
		Started: r.start.UTC().Format(time.RFC3339Nano), Redact: r.o.Redact})
}

// closeFile completes the current file.
func (r *run) closeFile() error {
	err := errors.Join(r.zw.Close(), r.cw.w.Flush())
	r.bytes += r.cw.n
	return errors.Join(err, r.f.Close())
}

func (r *run) loop() {
	var expire <-chan time.Time
	if r.o.Duration > 0 {
		t := time.NewTimer(r.o.Duration)
		defer t.Stop()
		expire = t.C
	}
	reason := ""
	for reason == "" {
		select {
		case rec := <-r.ch:
			reason = r.write(rec)
		case <-expire:
			reason = "duration"
		case reason = <-r.stop:
		}
	}
	// Records already queued belong to the capture.
	for drained := false; !drained && reason != "size cap"; {
		select {
		case rec := <-r.ch:
			if why := r.write(rec); why != "" {
				reason = why
			}
		default:
			drained = true
		}
	}
	r.closing.Store(true) // sessions stop recording; late records are ignored
	err := r.enc.Encode(Record{Type: TypeFooter, Written: r.written, Dropped: r.dropped.Load()})
	if err = errors.Join(err, r.closeFile()); err != nil && reason != "" {
		reason += "; " + err.Error()
	}
	r.c.last.Store(&Summary{Dir: r.o.Dir, Started: r.start, Ended: time.Now(), Written: r.written,
		Dropped: r.dropped.Load(), Files: r.files, Bytes: r.bytes, Reason: reason})
	// Not active only once Last holds this capture's summary.
	r.c.cur.Store(nil)
	close(r.done)
}

// write writes one statement (after its session's state the first time)
// and rotates; it returns why the capture must end, "" to go on.
func (r *run) write(rec Record) string {
	if !r.seen[rec.Session] {
		r.seen[rec.Session] = true
		s := Record{Type: TypeSession, T: rec.T, Session: rec.Session, User: rec.User, DB: rec.DB,
			Autocommit: rec.Autocommit, InTxn: rec.InTxn}
		if err := r.enc.Encode(s); err != nil {
			return "write: " + err.Error()
		}
	}
	rec.User, rec.Autocommit, rec.InTxn = "", nil, false // in the session record
	if err := r.enc.Encode(rec); err != nil {
		return "write: " + err.Error()
	}
	r.written++
	if r.bytes+r.cw.n >= r.o.MaxBytes {
		return "size cap"
	}
	if r.cw.n >= r.o.FileBytes {
		if err := r.closeFile(); err != nil {
			return "write: " + err.Error()
		}
		if err := r.open(); err != nil {
			return "write: " + err.Error()
		}
	}
	return ""
}
