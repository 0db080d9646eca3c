package protocol_test

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/packet"

	"github.com/rwproxy/rwproxy/protocol"
)

// replayConn serves data endlessly, over and over: each benchmark
// iteration reads exactly one copy of the response. Writes are discarded.
type replayConn struct {
	memConn
	data []byte
	off  int
}

func (c *replayConn) Read(p []byte) (int, error) {
	n := copy(p, c.data[c.off:])
	c.off = (c.off + n) % len(c.data)
	return n, nil
}

func (c *replayConn) Write(p []byte) (int, error) { return len(p), nil }

// textRows builds a one-column resultset of rows rows, each row payload
// rowSize bytes long.
func textRows(rows, rowSize int) []byte {
	w := newWire()
	data := make([][][]byte, rows)
	val := bytes.Repeat([]byte{'r'}, rowSize-1) // one length byte + value
	for i := range data {
		data[i] = [][]byte{val}
	}
	w.resultset(1, data, mysql.SERVER_STATUS_AUTOCOMMIT)
	return w.b
}

// benchRelay relays stream (one response of rows rows) b.N times from an
// in-memory backend to a discarding client and reports allocations per
// relayed row.
func benchRelay(b *testing.B, stream []byte, rows int) {
	bpc := packet.NewConn(&replayConn{data: stream})
	backend := protocol.NewBackendReader(bpc)
	client := protocol.NewClientConn(&replayConn{data: []byte{0}})
	var r protocol.Relay
	r.Done()
	r.ClientTrack = true
	relay := func() {
		bpc.Sequence, client.Sequence = 1, 1
		res, err := r.Forward(client, backend)
		if err != nil || res.Rows != rows {
			b.Fatalf("relay: rows %d, err %v", res.Rows, err)
		}
	}
	relay() // warm the buffers up: steady state is what is measured
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		relay()
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	// Whole allocations per op first, as allocs/op counts them: the
	// runtime's own background allocations then round away.
	perOp := (after.Mallocs - before.Mallocs) / uint64(b.N)
	b.ReportMetric(float64(perOp)/float64(rows), "allocs/row")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}

// BenchmarkRelayRows: 1 column definition and 1000 rows of 100 bytes. The
// target is 0 allocs/row.
func BenchmarkRelayRows(b *testing.B) {
	benchRelay(b, textRows(1000, 100), 1000)
}

// BenchmarkRelayPointSelect: a one-row result, as for a primary-key lookup.
func BenchmarkRelayPointSelect(b *testing.B) {
	benchRelay(b, textRows(1, 100), 1)
}

// TestRelayRowsNoAllocs makes the steady-state target a test: relaying a
// 1000-row result must not allocate per row.
func TestRelayRowsNoAllocs(t *testing.T) {
	if raceDetector {
		t.Skip("sync.Pool drops buffers at random under the race detector")
	}
	stream := textRows(1000, 100)
	bpc := packet.NewConn(&replayConn{data: stream})
	backend := protocol.NewBackendReader(bpc)
	client := protocol.NewClientConn(&replayConn{data: []byte{0}})
	var r protocol.Relay
	r.Done()
	r.ClientTrack = true
	var rows int
	allocs := testing.AllocsPerRun(20, func() {
		bpc.Sequence, client.Sequence = 1, 1
		res, err := r.Forward(client, backend)
		if err != nil {
			t.Fatal(err)
		}
		rows = res.Rows
	})
	if rows != 1000 {
		t.Fatalf("rows %d", rows)
	}
	// A few allocations per response are tolerated, not one per row.
	if allocs > 10 {
		t.Fatalf("%.0f allocations per 1000-row response", allocs)
	}
}
