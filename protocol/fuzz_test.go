package protocol_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/protocol"
)

// Seeds run as plain tests; `go test -fuzz FuzzX` explores further.
// Crashers found by the fuzzer live in testdata/fuzz/FuzzX as regression
// seeds.

func sysvarEntry(name, value string) []byte {
	data := lenenc(lenenc(nil, []byte(name)), []byte(value))
	return lenenc([]byte{mysql.SESSION_TRACK_SYSTEM_VARIABLES}, data)
}

func schemaEntry(name string) []byte {
	return lenenc([]byte{mysql.SESSION_TRACK_SCHEMA}, lenenc(nil, []byte(name)))
}

func stateChangeEntry() []byte {
	return lenenc([]byte{mysql.SESSION_TRACK_STATE_CHANGE}, lenenc(nil, []byte("1")))
}

func gtidsEntry(gtid string) []byte {
	return lenenc([]byte{mysql.SESSION_TRACK_GTIDS}, lenenc([]byte{0}, []byte(gtid)))
}

func concat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// lenencSize is the size of n's length-encoded form.
func lenencSize(n uint64) int { return len(mysql.AppendLengthEncodedInteger(nil, n)) }

func requireSameOK(t *testing.T, want, got protocol.OK) {
	t.Helper()
	require.Equal(t, want.AffectedRows, got.AffectedRows, "affected rows")
	require.Equal(t, want.InsertID, got.InsertID, "insert id")
	require.Equal(t, want.Status, got.Status, "status")
	require.Equal(t, want.Warnings, got.Warnings, "warnings")
	require.True(t, bytes.Equal(want.Info, got.Info), "info %q != %q", want.Info, got.Info)
	require.True(t, bytes.Equal(want.State, got.State), "state %x != %x", want.State, got.State)
}

// checkNoTrack re-encodes ok for a client without session tracking and
// checks what such a client decodes: the same numbers, the status without
// SERVER_SESSION_STATE_CHANGED, and Info as the rest of the packet.
func checkNoTrack(t *testing.T, ok protocol.OK) {
	t.Helper()
	out := protocol.AppendOKNoTrack([]byte{1, 2, 3, 4}, &ok)
	require.Equal(t, []byte{1, 2, 3, 4}, out[:4], "header placeholder must be left alone")
	pl := out[4:]
	back, err := protocol.ParseOK(pl)
	require.NoError(t, err)
	require.Equal(t, ok.AffectedRows, back.AffectedRows)
	require.Equal(t, ok.InsertID, back.InsertID)
	require.Equal(t, ok.Status&^mysql.SERVER_SESSION_STATE_CHANGED, back.Status)
	require.Equal(t, ok.Warnings, back.Warnings)
	require.Nil(t, back.State)
	fixed := 1 + lenencSize(ok.AffectedRows) + lenencSize(ok.InsertID) + 4
	require.True(t, bytes.Equal(ok.Info, pl[fixed:]), "info %q, trailing string %q", ok.Info, pl[fixed:])
}

func FuzzParseOK(f *testing.F) {
	f.Add(okTracked(0, 0, mysql.SERVER_STATUS_AUTOCOMMIT, 0, nil, nil))
	f.Add(okTracked(1, 42, mysql.SERVER_STATUS_AUTOCOMMIT, 1, []byte("Rows matched: 1  Changed: 1  Warnings: 0"), nil))
	f.Add(okTracked(300, 70000, mysql.SERVER_STATUS_IN_TRANS, 0, nil, nil))
	f.Add(okTracked(1<<40, 1<<20, mysql.SERVER_MORE_RESULTS_EXISTS, 0, []byte("x"), nil))
	f.Add(okTracked(0, 0, mysql.SERVER_STATUS_AUTOCOMMIT|mysql.SERVER_SESSION_STATE_CHANGED, 0, nil,
		concat(sysvarEntry("autocommit", "OFF"), schemaEntry("db1"), stateChangeEntry())))
	// Servers that omit the info string, or send it unterminated.
	f.Add([]byte{0, 0, 0, 2, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 2, 0, 0, 0, 5, 'a'})
	f.Add([]byte{0, 0, 0, 0, 0x40, 0, 0, 0, 3, 0, 1, 2})
	f.Add([]byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, p []byte) {
		mustNotPanic(t, func() {
			ok, err := protocol.ParseOK(p)
			if err != nil {
				require.ErrorIs(t, err, protocol.ErrShortPacket)
				return
			}
			require.GreaterOrEqual(t, len(p), 7)
			require.Zero(t, ok.Status&mysql.SERVER_SESSION_STATE_CHANGED == 0 && ok.State != nil,
				"state decoded although SERVER_SESSION_STATE_CHANGED is clear")
			// Canonical round trip: the decoded fields, encoded the way a
			// server does, decode to the same fields.
			enc := okTracked(ok.AffectedRows, ok.InsertID, ok.Status, ok.Warnings, ok.Info, ok.State)
			back, err := protocol.ParseOK(enc)
			require.NoError(t, err)
			if ok.Status&mysql.SERVER_SESSION_STATE_CHANGED != 0 && ok.State == nil {
				back.State = nil // an absent block re-encodes as an empty one
			}
			requireSameOK(t, ok, back)
			checkNoTrack(t, ok)
		})
	})
}

// FuzzOKRoundTrip: any well-formed OK a server can send decodes to its
// fields, and the re-encoding for non-tracking clients keeps them.
func FuzzOKRoundTrip(f *testing.F) {
	f.Add(uint64(0), uint64(0), uint16(2), uint16(0), []byte(nil), []byte(nil))
	f.Add(uint64(250), uint64(251), uint16(0x4002), uint16(3), []byte("info"), sysvarEntry("sql_mode", ""))
	f.Add(uint64(1<<16), uint64(1<<24), uint16(0xffff), uint16(0xffff), []byte("\xfa"), []byte{0xfe})
	f.Add(uint64(1<<63), uint64(0xffffff), uint16(8), uint16(0), bytes.Repeat([]byte("i"), 300), []byte(nil))
	f.Fuzz(func(t *testing.T, affected, insertID uint64, status, warnings uint16, info, state []byte) {
		mustNotPanic(t, func() {
			want := protocol.OK{AffectedRows: affected, InsertID: insertID, Status: status, Warnings: warnings,
				Info: info}
			if status&mysql.SERVER_SESSION_STATE_CHANGED != 0 {
				want.State = state
			}
			got, err := protocol.ParseOK(okTracked(affected, insertID, status, warnings, info, state))
			require.NoError(t, err)
			requireSameOK(t, want, got)
			checkNoTrack(t, got)
		})
	})
}

// encodeEntries rebuilds a session-state block from decoded entries.
func encodeEntries(es []protocol.StateEntry) []byte {
	var b []byte
	for _, e := range es {
		var data []byte
		switch e.Type {
		case mysql.SESSION_TRACK_SYSTEM_VARIABLES:
			data = lenenc(lenenc(nil, e.Name), e.Value)
		case mysql.SESSION_TRACK_SCHEMA:
			data = lenenc(nil, e.Name)
		case mysql.SESSION_TRACK_GTIDS:
			data = lenenc([]byte{0}, e.Value)
		default:
			data = e.Value
		}
		b = lenenc(append(b, e.Type), data)
	}
	return b
}

func collect(t *testing.T, state []byte) ([]protocol.StateEntry, error) {
	t.Helper()
	var es []protocol.StateEntry
	err := protocol.WalkState(state, func(e protocol.StateEntry) {
		// Entries alias the block: copy them before the next call.
		es = append(es, protocol.StateEntry{Type: e.Type,
			Name: bytes.Clone(e.Name), Value: bytes.Clone(e.Value)})
	})
	return es, err
}

func FuzzWalkState(f *testing.F) {
	f.Add([]byte(nil))
	f.Add(sysvarEntry("autocommit", "OFF"))
	f.Add(concat(sysvarEntry("character_set_client", "latin1"), sysvarEntry("collation_connection", "latin1_swedish_ci"),
		schemaEntry("shop"), stateChangeEntry(), gtidsEntry("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5")))
	f.Add(concat(sysvarEntry("sql_mode", ""), sysvarEntry(string(bytes.Repeat([]byte("v"), 300)), "x")))
	f.Add([]byte{mysql.SESSION_TRACK_TRANSACTION_CHARACTERISTICS, 3, 2, 'a', 'b'})
	f.Add([]byte{0x7f, 0})                         // unknown type, empty data
	f.Add([]byte{0, 5, 2, 'a'})                    // truncated entry
	f.Add([]byte{0, 3, 9, 'a', 'b'})               // name longer than the entry
	f.Add([]byte{mysql.SESSION_TRACK_GTIDS, 1, 0}) // GTIDs without the text
	f.Fuzz(func(t *testing.T, state []byte) {
		mustNotPanic(t, func() {
			es, err := collect(t, state)
			if err != nil {
				return
			}
			// Decoding is canonical: re-encoding the entries decodes to the
			// same entries.
			again, err := collect(t, encodeEntries(es))
			require.NoError(t, err)
			require.Len(t, again, len(es))
			for i := range es {
				require.Equal(t, es[i].Type, again[i].Type)
				require.True(t, bytes.Equal(es[i].Name, again[i].Name), "entry %d name", i)
				require.True(t, bytes.Equal(es[i].Value, again[i].Value), "entry %d value", i)
			}
		})
	})
}

func FuzzParseErr(f *testing.F) {
	f.Add(errPayload(1064, "42000", "You have an error in your SQL syntax"))
	f.Add(errPayload(1040, "08004", "Too many connections"))
	f.Add([]byte{0xff, 0x15, 0x04, 'n', 'o', ' ', 's', 't', 'a', 't', 'e'}) // protocol 320 style
	f.Add([]byte{0xff, 0x15, 0x04, '#', 'a'})
	f.Add([]byte{0xff, 0x15})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		mustNotPanic(t, func() {
			e := protocol.ParseErr(p)
			require.NotNil(t, e)
			require.Len(t, e.State, 5)
			if len(p) >= 3 {
				require.Equal(t, binary.LittleEndian.Uint16(p[1:3]), e.Code)
			}
			// A protocol-41 ERR packet re-encodes to itself.
			if len(p) >= 9 && p[0] == mysql.ERR_HEADER && p[3] == '#' {
				require.Equal(t, p, protocol.AppendErr(nil, e))
			}
			// And any decoded error survives encoding.
			back := protocol.ParseErr(protocol.AppendErr(nil, e))
			require.Equal(t, e.Code, back.Code)
			require.Equal(t, e.State, back.State)
			require.Equal(t, e.Message, back.Message)
		})
	})
}

// byteSrc hands out a fuzz input one byte at a time, then zeros.
type byteSrc struct{ b []byte }

func (s *byteSrc) next() byte {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c
}

func (s *byteSrc) bytes(n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = s.next()
	}
	return out
}

func (s *byteSrc) number() uint64 {
	switch c := s.next(); c % 5 {
	case 0:
		return 0
	case 1:
		return uint64(c)
	case 2:
		return 251 + uint64(s.next())<<8
	case 3:
		return 1<<16 + uint64(s.next())<<16
	default:
		return 1<<24 + uint64(s.next())<<40
	}
}

func (s *byteSrc) value() []byte {
	switch c := s.next(); c % 6 {
	case 0:
		return nil // NULL
	case 1:
		return []byte{}
	case 2:
		return s.bytes(int(c % 16))
	case 3:
		return bytes.Repeat([]byte{c}, 251+int(s.next())) // two-byte length
	default:
		return []byte("value")
	}
}

// generated is a well-formed response and what relaying it must report.
type generated struct {
	w      *wire
	rows   int
	oks    int
	okAt   map[int]bool // packet indexes of OK packets
	err    bool
	status uint16
}

// genResponse builds a well-formed COM_QUERY response from recipe: one to
// four results (OK, resultset or ERR, which ends the response), linked by
// SERVER_MORE_RESULTS_EXISTS.
func genResponse(recipe []byte) generated {
	src := &byteSrc{b: recipe}
	g := generated{w: newWire(), okAt: map[int]bool{}}
	n := 1 + int(src.next()%4)
	for i := 0; i < n; i++ {
		kind := src.next() % 3
		if kind == 2 {
			g.w.packet(errPayload(1146, "42S02", "Table 'test.nope' doesn't exist"))
			g.err = true
			return g
		}
		status := (uint16(src.next()) | uint16(src.next())<<8) &^ mysql.SERVER_MORE_RESULTS_EXISTS
		if i < n-1 {
			status |= mysql.SERVER_MORE_RESULTS_EXISTS
		}
		g.status = status
		if kind == 0 {
			var state []byte
			if status&mysql.SERVER_SESSION_STATE_CHANGED != 0 {
				state = concat(sysvarEntry("autocommit", "OFF"), schemaEntry("db"), stateChangeEntry())
			}
			g.okAt[g.w.packets] = true
			g.oks++
			g.w.packet(okTracked(src.number(), src.number(), status, uint16(src.next()), src.value(), state))
			continue
		}
		// A resultset's closing EOF carries no session state.
		status &^= mysql.SERVER_SESSION_STATE_CHANGED
		g.status = status
		cols := 1 + int(src.next()%4)
		rows := make([][][]byte, int(src.next()%6))
		for r := range rows {
			rows[r] = make([][]byte, cols)
			for c := range rows[r] {
				rows[r][c] = src.value()
			}
		}
		g.rows += len(rows)
		g.w.resultset(cols, rows, status)
	}
	return g
}

// splitPackets cuts a stream into whole packets (header included).
func splitPackets(b []byte) [][]byte {
	var ps [][]byte
	for len(b) >= 4 {
		n := 4 + (int(b[0]) | int(b[1])<<8 | int(b[2])<<16)
		if n > len(b) {
			break
		}
		ps = append(ps, b[:n])
		b = b[n:]
	}
	return ps
}

var relayRecipes = [][]byte{
	{0, 0, 2, 0, 1, 2, 3, 4},             // one OK
	{0, 2},                               // ERR
	{0, 1, 2, 0, 0, 3},                   // resultset, 1 column, 3 rows
	{0, 1, 2, 0, 3, 5, 3, 2, 1, 0, 4},    // resultset, 4 columns, 5 rows
	{3, 1, 0, 0, 1, 2, 0, 2, 0, 0, 0, 1}, // multi-result: resultset, OK, ...
	{2, 0, 2, 0x40, 7, 7, 0, 0, 2},       // OK with session state, then ERR
	{3, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0x40, 1, 2, 3}, // resultset with no rows
}

// checkStructured relays a generated response and requires byte-for-byte
// transparency for a tracking client, and an OK-only rewrite otherwise.
func checkStructured(t *testing.T, recipe []byte) {
	g := genResponse(recipe)
	in := g.w.b
	oks := 0
	res, out, err := relayOnce(in, true, func(*protocol.OK) { oks++ })
	require.NoError(t, err)
	require.Equal(t, in, out, "the relay must be byte-transparent for a tracking client")
	require.Equal(t, g.rows, res.Rows)
	require.Equal(t, g.oks, oks, "OnOK calls")
	require.Equal(t, g.w.payload, res.Bytes)
	require.True(t, res.Sent)
	require.Equal(t, g.err, res.Err != nil)
	if !g.err {
		require.Equal(t, g.status, res.Status)
	}

	res2, out2, err := relayOnce(in, false, nil)
	require.NoError(t, err)
	require.Equal(t, g.rows, res2.Rows)
	inP, outP := splitPackets(in), splitPackets(out2)
	require.Len(t, outP, len(inP))
	for i := range inP {
		if !g.okAt[i] {
			require.Equal(t, inP[i], outP[i], "packet %d", i)
			continue
		}
		ok, err := protocol.ParseOK(inP[i][4:])
		require.NoError(t, err)
		want := protocol.AppendOKNoTrack(append([]byte(nil), inP[i][:4]...), &ok)
		n := len(want) - 4
		want[0], want[1], want[2] = byte(n), byte(n>>8), byte(n>>16)
		require.Equal(t, want, outP[i], "OK packet %d", i)
	}
}

// checkRaw relays arbitrary backend bytes: no panic, and what the client
// receives is always a prefix of what the backend sent.
func checkRaw(t *testing.T, in []byte) {
	res, out, err := relayOnce(in, true, func(*protocol.OK) {})
	require.True(t, bytes.HasPrefix(in, out), "client bytes are not a prefix of backend bytes")
	ps := splitPackets(out)
	require.Equal(t, len(out)-4*len(ps), res.Bytes)
	require.Equal(t, len(out) > 0, res.Sent)
	if err != nil {
		require.True(t, errors.Is(err, protocol.ErrBackendIO) || errors.Is(err, protocol.ErrProtocol), "err %v", err)
	}
	// Without a client (a response the proxy consumes itself) the same
	// packets are read.
	var r protocol.Relay
	r.Done()
	res2, err2 := consume(&r, in)
	require.Equal(t, err == nil, err2 == nil)
	require.Equal(t, res.Rows, res2.Rows)
	require.Equal(t, res.Bytes, res2.Bytes)
	require.False(t, res2.Sent)
	// A non-tracking client must not crash the relay either.
	_, _, _ = relayOnce(in, false, nil)
}

func FuzzRelayForward(f *testing.F) {
	for _, r := range relayRecipes {
		f.Add(r, true)
		f.Add(genResponse(r).w.b, false)
	}
	f.Add([]byte{}, false)
	f.Add([]byte{1, 0, 0, 1, 0}, false)    // empty payload... of length 1: OK header only
	f.Add([]byte{0, 0, 0, 1}, false)       // empty payload
	f.Add([]byte{1, 0, 0, 1, 0xfb}, false) // NULL column count
	f.Add([]byte{1, 0, 0, 1, 0xfb, 5, 0, 0, 2, 0xfe, 0, 0, 2, 0}, false)
	f.Add([]byte{1, 0, 0, 1, mysql.LocalInFile_HEADER}, false)
	f.Add([]byte{7, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0}, false) // wrong sequence
	f.Fuzz(func(t *testing.T, data []byte, structured bool) {
		mustNotPanic(t, func() {
			if structured {
				checkStructured(t, data)
				return
			}
			checkRaw(t, data)
		})
	})
}

func TestRelayForwardGenerated(t *testing.T) {
	for i, r := range relayRecipes {
		t.Run(fmt.Sprintf("recipe%d", i), func(t *testing.T) { mustNotPanic(t, func() { checkStructured(t, r) }) })
	}
}
