package integration

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/stretchr/testify/require"
)

// Hand-made COM_STMT_* packets for what go-sql-driver never sends
// (COM_STMT_RESET, an execute without parameter types, long data for a
// chosen parameter).

const (
	comStmtExecute      = 0x17
	comStmtSendLongData = 0x18
	comStmtReset        = 0x1a
	typeVarString       = 0xfd
)

// lenenc appends s as a length-encoded string (s < 64 KiB).
func lenenc(b []byte, s string) []byte {
	if len(s) < 251 {
		b = append(b, byte(len(s)))
	} else {
		b = append(b, 0xfc, byte(len(s)), byte(len(s)>>8))
	}
	return append(b, s...)
}

// executePacket builds COM_STMT_EXECUTE for string parameters. With bind,
// the types are sent (new-params-bound = 1). A nil value is NULL; skip
// lists parameters whose value came as long data.
func executePacket(id uint32, bind bool, values []*string, skip map[int]bool) []byte {
	b := []byte{comStmtExecute, 0, 0, 0, 0, 0, 1, 0, 0, 0} // flags 0, iteration count 1
	binary.LittleEndian.PutUint32(b[1:5], id)
	nulls := make([]byte, (len(values)+7)/8)
	for i, v := range values {
		if v == nil {
			nulls[i/8] |= 1 << (i % 8)
		}
	}
	b = append(b, nulls...)
	if bind {
		b = append(b, 1)
		for range values {
			b = append(b, typeVarString, 0)
		}
	} else {
		b = append(b, 0)
	}
	for i, v := range values {
		if v != nil && !skip[i] {
			b = lenenc(b, *v)
		}
	}
	return b
}

func longDataPacket(id uint32, param uint16, data string) []byte {
	b := []byte{comStmtSendLongData, 0, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(b[1:5], id)
	binary.LittleEndian.PutUint16(b[5:7], param)
	return append(b, data...)
}

func strp(s string) *string { return &s }

// readStringResult reads a binary-protocol result set of one string column
// (with EOF packets: see rawLogin) and returns its values ("NULL" for
// NULL), or the ERR packet.
func readStringResult(t *testing.T, nc net.Conn) ([]string, *rawPacket) {
	t.Helper()
	read := func() rawPacket {
		p, err := readRaw(nc, 10*time.Second)
		require.NoError(t, err)
		return p
	}
	p := read()
	if p.isErr() {
		return nil, &p
	}
	require.Equal(t, []byte{1}, p.payload, "column count: %v", p)
	read() // the column definition
	require.Equal(t, byte(0xfe), read().payload[0], "EOF after the column definitions")
	out := []string{}
	for {
		p := read()
		if p.payload[0] == 0xfe { // EOF: binary rows start with 0x00
			return out, nil
		}
		require.Equal(t, byte(0), p.payload[0], "binary row header: %v", p)
		if p.payload[1]&(1<<2) != 0 { // the NULL bitmap starts at bit 2
			out = append(out, "NULL")
			continue
		}
		n := int(p.payload[2])
		require.Less(t, n, 251, "short values only")
		out = append(out, string(p.payload[3:3+n]))
	}
}

// rawStmtSession is a logged-in connection with a prepared statement whose
// later commands are written by hand.
type rawStmtSession struct {
	c  *client.Conn
	nc net.Conn
	id uint32
}

func newRawStmtSession(t *testing.T, addr, query string) *rawStmtSession {
	t.Helper()
	c, nc := rawLogin(t, addr, "app", "app")
	st, err := c.Prepare(query)
	require.NoError(t, err)
	return &rawStmtSession{c: c, nc: nc, id: st.ID}
}

func (s *rawStmtSession) send(t *testing.T, payload []byte) {
	t.Helper()
	require.NoError(t, writeRaw(s.nc, 0, payload))
}

// TestPreparedStatementsEndToEnd exercises the prepared statement commands
// through the proxy: reuse from several goroutines, NULLs, long data, reset,
// close and re-prepare, executes without parameter types.
func TestPreparedStatementsEndToEnd(t *testing.T) {
	needSandbox(t)
	a := startProxy(t, nil)
	direct := openDB(t, dsn(primary(), "app", "app"))
	proxied := openDB(t, dsn(a.Addr(), "app", "app")) // interpolateParams=false: real prepares
	proxied.SetMaxOpenConns(4)
	for _, q := range []string{
		"DROP TABLE IF EXISTS app.ps_t",
		"CREATE TABLE app.ps_t (id INT AUTO_INCREMENT PRIMARY KEY, g INT, i INT, s VARCHAR(64), n INT NULL, b LONGBLOB)",
	} {
		_, err := direct.Exec(q)
		require.NoError(t, err)
	}

	t.Run("reused from 4 goroutines", func(t *testing.T) {
		sel, err := proxied.Prepare("SELECT ? + 1, CONCAT('v', ?), ? IS NULL")
		require.NoError(t, err)
		defer sel.Close()
		ins, err := proxied.Prepare("INSERT INTO app.ps_t (g, i, s) VALUES (?, ?, ?)")
		require.NoError(t, err)
		defer ins.Close()
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for g := 0; g < 4; g++ {
			wg.Go(func() {
				for i := 0; i < 100; i++ {
					k := g*1000 + i
					var plus int
					var s string
					var isNull bool
					var nullArg any
					if i%3 == 0 {
						nullArg = i
					}
					if err := sel.QueryRow(k, fmt.Sprint(k), nullArg).Scan(&plus, &s, &isNull); err != nil {
						errs <- fmt.Errorf("g%d i%d select: %w", g, i, err)
						return
					}
					if plus != k+1 || s != fmt.Sprintf("v%d", k) || isNull != (nullArg == nil) {
						errs <- fmt.Errorf("g%d i%d: got (%d, %q, %t)", g, i, plus, s, isNull)
						return
					}
					if _, err := ins.Exec(g, i, fmt.Sprintf("g%d-%d", g, i)); err != nil {
						errs <- fmt.Errorf("g%d i%d insert: %w", g, i, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		rows, err := direct.Query("SELECT g, COUNT(*), SUM(i), COUNT(DISTINCT s) FROM app.ps_t GROUP BY g ORDER BY g")
		require.NoError(t, err)
		defer rows.Close()
		var got [][4]int
		for rows.Next() {
			var r [4]int
			require.NoError(t, rows.Scan(&r[0], &r[1], &r[2], &r[3]))
			got = append(got, r)
		}
		require.NoError(t, rows.Err())
		require.Equal(t, [][4]int{{0, 100, 4950, 100}, {1, 100, 4950, 100}, {2, 100, 4950, 100}, {3, 100, 4950, 100}}, got)
	})

	t.Run("NULL parameters", func(t *testing.T) {
		var isNull int
		var coalesced string
		require.NoError(t, proxied.QueryRow("SELECT ? IS NULL, COALESCE(?, 'dflt')", nil, nil).Scan(&isNull, &coalesced))
		require.Equal(t, 1, isNull)
		require.Equal(t, "dflt", coalesced)
		// the same statement alternately with NULL and values: the types
		// bound change from execute to execute
		st, err := proxied.Prepare("INSERT INTO app.ps_t (g, s, n) VALUES (10, ?, ?)")
		require.NoError(t, err)
		defer st.Close()
		for i := 0; i < 10; i++ {
			var s, n any = fmt.Sprint("row", i), i
			if i%2 == 1 {
				s, n = nil, nil
			}
			_, err := st.Exec(s, n)
			require.NoError(t, err)
		}
		var nulls, values, sum int
		require.NoError(t, direct.QueryRow("SELECT SUM(n IS NULL AND s IS NULL), SUM(n IS NOT NULL AND s = CONCAT('row', n)), SUM(n) FROM app.ps_t WHERE g = 10").
			Scan(&nulls, &values, &sum))
		require.Equal(t, []int{5, 5, 0 + 2 + 4 + 6 + 8}, []int{nulls, values, sum})
	})

	t.Run("long data from go-sql-driver", func(t *testing.T) {
		// With maxAllowedPacket=1 MiB, go-sql-driver sends []byte arguments
		// of 512 KiB and more with COM_STMT_SEND_LONG_DATA, in 1 MiB chunks.
		small := openDB(t, dsn(a.Addr(), "app", "app", "maxAllowedPacket=1048576"))
		blob := randomBytes(3<<20+123, 7)
		text := make([]byte, 700<<10)
		for i := range text {
			text[i] = 'a' + byte(i%26)
		}
		res, err := small.Exec("INSERT INTO app.ps_t (g, b, s) VALUES (20, ?, LEFT(?, 10))", blob, text)
		require.NoError(t, err)
		id, err := res.LastInsertId()
		require.NoError(t, err)
		var sum string
		var length int
		var s string
		require.NoError(t, direct.QueryRow("SELECT SHA2(b, 256), LENGTH(b), s FROM app.ps_t WHERE id = ?", id).Scan(&sum, &length, &s))
		want := sha256.Sum256(blob)
		require.Equal(t, len(blob), length)
		require.Equal(t, hex.EncodeToString(want[:]), sum)
		require.Equal(t, "abcdefghij", s)
		// again on the same statement text (a statement cached on the
		// backend connection)
		var echoed []byte
		require.NoError(t, small.QueryRow("SELECT ?", blob).Scan(&echoed))
		require.Equal(t, want, sha256.Sum256(echoed))
	})

	// The raw cases run against the proxy and directly: same results.
	rawCases := []struct {
		name string
		want []string // nil: whatever the server answers directly
		run  func(t *testing.T, s *rawStmtSession) []string
	}{
		{"long data for one parameter", []string{"abcdef"}, func(t *testing.T, s *rawStmtSession) []string {
			s.send(t, longDataPacket(s.id, 0, "abc"))
			s.send(t, longDataPacket(s.id, 0, "def"))
			s.send(t, executePacket(s.id, true, []*string{strp("")}, map[int]bool{0: true}))
			out, e := readStringResult(t, s.nc)
			require.Nil(t, e)
			return out
		}},
		{"reset drops long data", []string{"fresh"}, func(t *testing.T, s *rawStmtSession) []string {
			s.send(t, longDataPacket(s.id, 0, "stale"))
			s.send(t, []byte{comStmtReset, byte(s.id), byte(s.id >> 8), byte(s.id >> 16), byte(s.id >> 24)})
			p, err := readRaw(s.nc, 10*time.Second)
			require.NoError(t, err)
			require.Equal(t, byte(0), p.payload[0], "COM_STMT_RESET answers OK: %v", p)
			s.send(t, executePacket(s.id, true, []*string{strp("fresh")}, nil))
			out, e := readStringResult(t, s.nc)
			require.Nil(t, e)
			return out
		}},
		{"execute without types reuses the bound ones", []string{"one", "two", "three", "NULL"}, func(t *testing.T, s *rawStmtSession) []string {
			var all []string
			s.send(t, executePacket(s.id, true, []*string{strp("one")}, nil))
			out, e := readStringResult(t, s.nc)
			require.Nil(t, e)
			all = append(all, out...)
			for _, v := range []string{"two", "three"} {
				s.send(t, executePacket(s.id, false, []*string{strp(v)}, nil))
				out, e := readStringResult(t, s.nc)
				require.Nil(t, e, "%v", e)
				all = append(all, out...)
			}
			s.send(t, executePacket(s.id, true, []*string{nil}, nil))
			out, e = readStringResult(t, s.nc)
			require.Nil(t, e)
			return append(all, out...)
		}},
		{"unknown statement", nil, func(t *testing.T, s *rawStmtSession) []string {
			s.send(t, executePacket(9999, true, []*string{strp("x")}, nil))
			_, e := readStringResult(t, s.nc)
			require.NotNil(t, e, "executing statement 9999 must fail")
			s.send(t, []byte{comStmtReset, 0x0f, 0x27, 0, 0}) // 9999
			p, err := readRaw(s.nc, 10*time.Second)
			require.NoError(t, err)
			return []string{e.String(), p.String()}
		}},
	}
	for _, tc := range rawCases {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.run(t, newRawStmtSession(t, primary(), "SELECT CONCAT(?, '')"))
			p := tc.run(t, newRawStmtSession(t, a.Addr(), "SELECT CONCAT(?, '')"))
			require.NotEmpty(t, d)
			if tc.want != nil {
				require.Equal(t, tc.want, d, "direct")
			}
			require.Equal(t, d, p, "proxy vs direct")
		})
	}

	t.Run("close and re-prepare", func(t *testing.T) {
		var before int
		require.NoError(t, direct.QueryRow("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'PREPARED_STMT_COUNT'").Scan(&before))
		c := conn(t, proxied)
		for i := 0; i < 300; i++ {
			q := fmt.Sprintf("SELECT ? * %d", i) // 300 distinct statements
			st, err := c.PrepareContext(t.Context(), q)
			require.NoError(t, err)
			var v int
			require.NoError(t, st.QueryRow(2).Scan(&v))
			require.Equal(t, 2*i, v)
			require.NoError(t, st.Close())
			// re-prepare the same text after closing it
			st, err = c.PrepareContext(t.Context(), q)
			require.NoError(t, err)
			require.NoError(t, st.QueryRow(3).Scan(&v))
			require.Equal(t, 3*i, v)
			require.NoError(t, st.Close())
		}
		var after int
		require.NoError(t, direct.QueryRow("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'PREPARED_STMT_COUNT'").Scan(&after))
		// The client closed all it prepared. The proxy may keep statements
		// cached on its backend connections, but boundedly (256 each).
		t.Logf("server prepared statements: %d before, %d after", before, after)
		require.LessOrEqual(t, after-before, 4*256, "statements left open on the server")
	})

	t.Run("statement ids are per session", func(t *testing.T) {
		// go-sql-driver on two connections prepares the same text; each
		// execute must run its own statement.
		c1, c2 := conn(t, proxied), conn(t, proxied)
		s1, err := c1.PrepareContext(t.Context(), "SELECT CONCAT('one:', ?)")
		require.NoError(t, err)
		s2, err := c2.PrepareContext(t.Context(), "SELECT CONCAT('two:', ?)")
		require.NoError(t, err)
		for i := 0; i < 20; i++ {
			var v1, v2 string
			require.NoError(t, s1.QueryRow(i).Scan(&v1))
			require.NoError(t, s2.QueryRow(i).Scan(&v2))
			require.Equal(t, fmt.Sprintf("one:%d", i), v1)
			require.Equal(t, fmt.Sprintf("two:%d", i), v2)
		}
		require.NoError(t, s1.Close())
		require.NoError(t, s2.Close())
	})
}
