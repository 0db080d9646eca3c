package session

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/router"
)

// TestDurableFrozenV2 reads the frozen record of version 2 (a replay
// record with a statement the client still has and one it closed): every
// later binary must read it, and it round-trips through Export. A reader
// of version 1 reads it too (MinReader stays 1), ignoring the record.
func TestDurableFrozenV2(t *testing.T) {
	d := readDurableFixture(t, "durable_v2.json")
	require.NotNil(t, d.Tx)
	require.Len(t, d.Tx.Entries, 3)

	s := restoredSession(t, d)
	require.True(t, s.tx.open)
	require.False(t, s.tx.broken)
	require.True(t, s.tx.writes)
	require.Equal(t, 10, s.tx.hg)
	require.Equal(t, uint64(3), s.tx.seq)
	require.Len(t, s.tx.ents, 3)
	require.Equal(t, router.KindBegin, s.tx.ents[0].kind)
	require.Equal(t, "BEGIN", string(s.tx.buf[s.tx.ents[0].off+5:s.tx.ents[0].off+s.tx.ents[0].n]))
	require.Equal(t, uint64(22), s.tx.ents[1].sum)
	require.Same(t, s.stmts[1], s.tx.ents[1].ps, "the client's statement, still open")
	require.Equal(t, "DELETE FROM t WHERE id = ?", s.tx.ents[2].ps.query, "a statement the client closed")
	require.Equal(t, router.KindWrite, s.tx.ents[2].ps.st.Kind)

	got := s.Export()
	got.Version, got.MinReader = d.Version, d.MinReader
	require.ElementsMatch(t, d.Pins, got.Pins)
	got.Pins = d.Pins
	require.Equal(t, d, got)

	enc, err := got.Marshal()
	require.NoError(t, err)
	old, err := unmarshalDurableAs(enc, 1)
	require.NoError(t, err, "a version-1 reader takes the record")
	require.Equal(t, 1, old.MinReader)
}

// TestDurableTxUnusable: a record this process cannot use (past its
// transaction_replay_max_size, an unknown statement kind, an execute
// without its statement) leaves the transaction not replayable; the
// session is adopted all the same.
func TestDurableTxUnusable(t *testing.T) {
	for name, spoil := range map[string]func(d *Durable, dp *Deps){
		"too big": func(_ *Durable, dp *Deps) {
			dp.Routing = func() *Routing { return &Routing{Replay: ReplayConfig{On: true, MaxSize: 20}} }
		},
		"unknown kind":         func(d *Durable, _ *Deps) { d.Tx.Entries[0].Kind = "teleport" },
		"execute, no stmt":     func(d *Durable, _ *Deps) { d.Tx.Entries[1].Stmt = nil },
		"broken by the sender": func(d *Durable, _ *Deps) { d.Tx.Broken, d.Tx.Entries = true, nil },
	} {
		t.Run(name, func(t *testing.T) {
			d := readDurableFixture(t, "durable_v2.json")
			dp := durableDeps()
			spoil(d, dp)
			s := newSessionFor(t.Context(), dp, nil, config.User{Username: d.User}, 1, d.Caps, d.Collation)
			require.NoError(t, s.restore(d))
			require.True(t, s.tx.open)
			require.True(t, s.tx.broken)
			require.Empty(t, s.tx.ents)
		})
	}
}

// captureHandoff plays the new process's receiving end: it takes the
// session's record through its encoding and duplicates of its sockets
// (what SCM_RIGHTS gives the new process).
type captureHandoff struct {
	got             chan struct{}
	d               *Durable
	client, backend net.Conn
	err             error
}

func (h *captureHandoff) Hand(d *Durable, client, backend net.Conn) (func() bool, error) {
	defer close(h.got)
	b, err := d.Marshal()
	if err == nil {
		h.d, err = UnmarshalDurable(b)
	}
	if err == nil {
		h.client, err = dupConn(client)
	}
	if err == nil && backend != nil {
		h.backend, err = dupConn(backend)
	}
	h.err = err
	if err != nil {
		return nil, err
	}
	return func() bool { return true }, nil
}

func dupConn(c net.Conn) (net.Conn, error) {
	f, err := c.(*net.TCPConn).File()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return net.FileConn(f)
}

// handedSession is replaySession's session, registered (StartHandoff
// reaches it); it returns its deps.
func handedSession(t *testing.T, p Picker, rt *Routing, addrs ...string) (net.Conn, *Deps) {
	t.Helper()
	return servedSessionOf(t, config.User{Username: "u", Password: "pw", DefaultHostgroup: 10}, p,
		func() *Routing { return rt }, nil, true, addrs...)
}

// TestReplayRecordMovesWithSession: a transaction handed over mid-way
// (a text statement, a binary execute of a statement the client then
// closed) is replayed by the new process when its server is lost there:
// the replay runs the old process's record on the new writer, and the
// transaction commits. From an older binary (no record) the same loss
// ends the transaction with an error instead.
func TestReplayRecordMovesWithSession(t *testing.T) {
	for _, withRecord := range []bool{true, false} {
		name := "with record"
		if !withRecord {
			name = "from an older binary"
		}
		t.Run(name, func(t *testing.T) {
			a, b := startKV(t, 7), startKV(t, 7)
			p := &switchPicker{}
			p.set(a.addr)
			rt := &Routing{ReaderOf: map[int]int{}, FailoverBuffer: 5 * time.Second,
				Replay: ReplayConfig{On: true, MaxSize: 1 << 20, Attempts: 3, Timeout: 20 * time.Second}}
			nc, oldDeps := handedSession(t, p, rt, a.addr, b.addr)
			requireOK(t, query(t, nc, "BEGIN"))
			require.Equal(t, "7", textValue(t, query(t, nc, "SELECT v FROM t")))
			upd := prepareAll(t, nc, "UPDATE t SET v = v + 1 WHERE id = ?")
			body := []byte{byte(upd), byte(upd >> 8), byte(upd >> 16), byte(upd >> 24), 0, 1, 0, 0, 0,
				0, 1, mysql.MYSQL_TYPE_LONGLONG, 0}
			body = binary.LittleEndian.AppendUint64(body, 1)
			send(t, nc, mysql.COM_STMT_EXECUTE, body...)
			requireOK(t, replyOf(t, nc))
			send(t, nc, mysql.COM_STMT_CLOSE, byte(upd), byte(upd>>8), byte(upd>>16), byte(upd>>24)) // no reply

			h := &captureHandoff{got: make(chan struct{})}
			oldDeps.Registry.StartHandoff(h)
			<-h.got
			require.NoError(t, h.err)
			require.NotNil(t, h.backend, "the pinned connection travels")
			require.NotNil(t, h.d.Tx)
			require.Len(t, h.d.Tx.Entries, 3)
			if !withRecord {
				h.d.Tx = nil
			}

			newDeps := newProcessDeps(t, p, rt, a.addr, b.addr)
			ad, err := Adopt(t.Context(), h.client, h.backend, newDeps, h.d)
			require.NoError(t, err)
			require.Equal(t, !withRecord, ad.ReplayOff())
			served := make(chan struct{})
			go func() { defer close(served); ad.Serve() }()
			t.Cleanup(func() { _ = nc.Close(); <-served })

			a.dead.Store(true) // the writer is killed; b is the new one
			p.set(b.addr)
			if !withRecord {
				send(t, nc, mysql.COM_QUERY, []byte("SELECT v FROM t")...)
				requireStateLost(t, nc, newDeps.Stats)
				require.EqualValues(t, 1, newDeps.Stats.Replay.Failed[ReplayNotReplayable].Load())
				require.Empty(t, b.statements())
				return
			}
			require.Equal(t, "7", textValue(t, query(t, nc, "SELECT v FROM t")), "the client sees no error")
			requireOK(t, query(t, nc, "COMMIT"))
			require.Equal(t, []string{"BEGIN", "SELECT v FROM t", "UPDATE t SET v = v + 1 WHERE id = ?",
				"SELECT v FROM t", "COMMIT"}, b.statements(), "the old process's record, replayed by the new one")
			require.EqualValues(t, 1, newDeps.Stats.Replay.Succeeded.Load())
			require.Zero(t, oldDeps.Stats.Replay.Started.Load())
		})
	}
}

// newProcessDeps are the dependencies of a second process in front of the
// same servers (its own pools, registry and counters).
func newProcessDeps(t *testing.T, p Picker, rt *Routing, addrs ...string) *Deps {
	t.Helper()
	m := newPools(t, addrs[0], 10, 2*time.Second)
	for _, a := range addrs[1:] {
		m.SetServer(a, 10)
	}
	cfg := config.Defaults()
	cfg.Users = []config.User{{Username: "u", Password: "pw", DefaultHostgroup: 10}}
	return &Deps{Pools: m, Stats: &Stats{}, Log: zaptest.NewLogger(t), Config: func() *config.Config { return cfg },
		Routing: func() *Routing { return rt }, Picker: p, Registry: NewRegistry(), MaxPacket: 1 << 20}
}
