package qcache

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func eof(warnings, status uint16) []byte {
	return []byte{0xfe, byte(warnings), byte(warnings >> 8), byte(status), byte(status >> 8)}
}

// okPkt is an OK packet (header 0x00, or 0xfe ending a result set under
// CLIENT_DEPRECATE_EOF).
func okPkt(header byte, status, warnings uint16) []byte {
	return []byte{header, 0, 0, byte(status), byte(status >> 8), byte(warnings), byte(warnings >> 8)}
}

func TestResultShape(t *testing.T) {
	col, row := []byte("\x03defcol"), []byte("\x01x")
	const autocommit = 0x0002
	tests := []struct {
		name string
		dep  bool
		pkts [][]byte
		rows int
		ok   bool
	}{
		{"result set with EOFs", false, [][]byte{{1}, col, eof(0, autocommit), row, row, eof(0, autocommit)}, 2, true},
		{"empty result set", false, [][]byte{{1}, col, eof(0, autocommit), eof(0, autocommit)}, 0, true},
		{"deprecate EOF", true, [][]byte{{2}, col, col, row, okPkt(0xfe, autocommit, 0)}, 1, true},
		{"lone OK", false, [][]byte{okPkt(0, autocommit, 0)}, 0, true},
		{"warnings", false, [][]byte{{1}, col, eof(0, autocommit), row, eof(1, autocommit)}, 1, false},
		{"warnings, deprecate EOF", true, [][]byte{{1}, col, row, okPkt(0xfe, autocommit, 2)}, 1, false},
		{"more results", false, [][]byte{{1}, col, eof(0, 0), row, eof(0, 0x0008)}, 1, false},
		{"in a transaction", true, [][]byte{{1}, col, row, okPkt(0xfe, 0x0001, 0)}, 1, false},
		{"session state changed", false, [][]byte{okPkt(0, 0x4000, 0)}, 0, false},
		{"error", false, [][]byte{{0xff, 0x7a, 0x04, '#'}}, 0, false},
		{"error after rows", false, [][]byte{{1}, col, eof(0, 0), row, {0xff, 0x7a, 0x04}}, 1, false},
		{"cut short", false, [][]byte{{1}, col, eof(0, 0), row}, 1, false},
		{"definitions missing", false, [][]byte{{3}, col, eof(0, 0)}, 0, false},
		{"nothing", false, nil, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := New(1 << 20)
			f, _ := c.Begin(key(tc.name))
			for _, p := range tc.pkts {
				f.Add(p)
			}
			rows, ok := f.Result(tc.dep)
			require.Equal(t, tc.ok, ok)
			if ok {
				require.Equal(t, tc.rows, rows)
			}
			c.Abort(f)
		})
	}
}
