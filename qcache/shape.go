package qcache

import "encoding/binary"

// Server status flags that make a response unfit to replay to another
// session: more results follow, a transaction is open, or the response
// changed session state (the session learns that from the OK packet, which
// a replay would not repeat).
const (
	statusInTrans        = 0x0001
	statusMoreResults    = 0x0008
	statusSessionChanged = 0x4000
	unfitStatus          = statusInTrans | statusMoreResults | statusSessionChanged
)

// Result checks that the recorded packets are one complete, replayable
// result: a result set (column count, definitions, the EOF unless
// deprecateEOF, rows, a terminal EOF/OK) or a lone OK, without warnings,
// more results, an open transaction or a session state change. It returns
// the number of rows.
func (f *Fill) Result(deprecateEOF bool) (rows int, ok bool) {
	if f.overflow {
		return 0, false
	}
	var pkts [][]byte
	_ = walk(f.buf, func(p []byte) error {
		pkts = append(pkts, p)
		return nil
	})
	if len(pkts) == 0 || len(pkts[0]) == 0 {
		return 0, false
	}
	first := pkts[0]
	if first[0] == 0x00 { // OK: no result set
		return 0, len(pkts) == 1 && okFit(first)
	}
	if first[0] == 0xff {
		return 0, false
	}
	n, used := lenEnc(first)
	if used == 0 || used != len(first) || n == 0 {
		return 0, false
	}
	head := 1 + int(n)
	if !deprecateEOF {
		head++ // the EOF after the definitions
		if len(pkts) < head || !isEOF(pkts[head-1]) {
			return 0, false
		}
	}
	if len(pkts) < head+1 {
		return 0, false
	}
	last := pkts[len(pkts)-1]
	switch {
	case deprecateEOF && len(last) > 0 && last[0] == 0xfe && len(last) < 0xffffff:
		ok = okFit(last)
	case !deprecateEOF && isEOF(last):
		ok = binary.LittleEndian.Uint16(last[1:3]) == 0 && binary.LittleEndian.Uint16(last[3:5])&unfitStatus == 0
	}
	return len(pkts) - head - 1, ok
}

func isEOF(p []byte) bool { return len(p) >= 5 && len(p) < 9 && p[0] == 0xfe }

// okFit parses an OK packet (0x00 or 0xfe header) and reports whether it
// has no warnings and no unfit status.
func okFit(p []byte) bool {
	rest := p[1:]
	for range 2 { // affected rows, last insert id
		_, used := lenEnc(rest)
		if used == 0 {
			return false
		}
		rest = rest[used:]
	}
	if len(rest) < 4 {
		return false
	}
	return binary.LittleEndian.Uint16(rest[:2])&unfitStatus == 0 && binary.LittleEndian.Uint16(rest[2:4]) == 0
}

// lenEnc reads a length-encoded integer; used is 0 when b is too short.
func lenEnc(b []byte) (v uint64, used int) {
	if len(b) == 0 {
		return 0, 0
	}
	switch c := b[0]; {
	case c < 0xfb:
		return uint64(c), 1
	case c == 0xfc && len(b) >= 3:
		return uint64(binary.LittleEndian.Uint16(b[1:3])), 3
	case c == 0xfd && len(b) >= 4:
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, 4
	case c == 0xfe && len(b) >= 9:
		return binary.LittleEndian.Uint64(b[1:9]), 9
	}
	return 0, 0
}
