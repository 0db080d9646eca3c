package session

import (
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/rwproxy/rwproxy/protocol"
)

// Query attributes (CLIENT_QUERY_ATTRIBUTES, MySQL 8.0.23+): a client that
// negotiated them prefixes every COM_QUERY with a parameter block, and
// sends COM_STMT_EXECUTE with a parameter count and named parameters,
// the attributes after the statement's own. rwproxy announces the
// capability only with tracing on (to read a traceparent attribute), and
// its backend connections never negotiate it (pool.go), so the session
// turns both commands back into their plain form before they are routed.

// queryAttrCaps is what a session announces for query attributes.
func queryAttrCaps(d *Deps) uint32 {
	if d.Tracer != nil {
		return mysql.CLIENT_QUERY_ATTRIBUTES
	}
	return 0
}

// errQueryAttrs answers a parameter block rwproxy cannot read.
func errQueryAttrs(cmd string) *mysql.MyError {
	return protocol.NewErrMalformed(cmd + " query attributes")
}

// lenenc reads a length-encoded integer at b; ok is false past b's end.
var lenenc = protocol.LenEncInt

// binValueLen is the length of a binary-protocol value of type t at the
// start of b, -1 if b is too short.
func binValueLen(t byte, b []byte) int {
	n := 0
	switch t {
	case mysql.MYSQL_TYPE_NULL:
	case mysql.MYSQL_TYPE_TINY:
		n = 1
	case mysql.MYSQL_TYPE_SHORT, mysql.MYSQL_TYPE_YEAR:
		n = 2
	case mysql.MYSQL_TYPE_LONG, mysql.MYSQL_TYPE_INT24, mysql.MYSQL_TYPE_FLOAT:
		n = 4
	case mysql.MYSQL_TYPE_LONGLONG, mysql.MYSQL_TYPE_DOUBLE:
		n = 8
	case mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_DATETIME, mysql.MYSQL_TYPE_TIMESTAMP, mysql.MYSQL_TYPE_TIME:
		if len(b) == 0 {
			return -1
		}
		n = 1 + int(b[0])
	default: // strings, decimals, blobs, JSON, BIT, ENUM, SET, geometry
		v, k, ok := lenenc(b)
		if !ok || v > uint64(len(b)) {
			return -1
		}
		n = k + int(v)
	}
	if n > len(b) {
		return -1
	}
	return n
}

// param is one parameter of a block: its type, name and value bytes.
type param struct {
	typ, flag byte
	name, val []byte
}

// readParams reads n parameters at b (null bitmap, bound flag, types with
// names, values). types is used when the block does not bind types (only
// for executes); skip(i) reports a parameter sent as long data (no value).
// It returns the parameters, the null bitmap, whether types were bound and
// the bytes after the block.
func readParams(b []byte, n int, types []byte, skip func(int) bool) (ps []param, bitmap []byte, bound bool, rest []byte, ok bool) {
	nb := (n + 7) / 8
	if len(b) < nb+1 || n > len(b) {
		return nil, nil, false, nil, false
	}
	bitmap, bound, b = b[:nb], b[nb] == 1, b[nb+1:]
	ps = make([]param, n)
	for i := range ps {
		if !bound {
			if len(types) < 2*n {
				return nil, nil, false, nil, false
			}
			ps[i].typ, ps[i].flag = types[2*i], types[2*i+1]
			continue
		}
		if len(b) < 2 {
			return nil, nil, false, nil, false
		}
		ps[i].typ, ps[i].flag = b[0], b[1]
		l, k, ok := lenenc(b[2:])
		if !ok || l > uint64(len(b)-2-k) {
			return nil, nil, false, nil, false
		}
		ps[i].name, b = b[2+k:2+k+int(l)], b[2+k+int(l):]
	}
	for i := range ps {
		if bitmap[i/8]&(1<<(i%8)) != 0 || skip(i) {
			continue
		}
		l := binValueLen(ps[i].typ, b)
		if l < 0 {
			return nil, nil, false, nil, false
		}
		ps[i].val, b = b[:l], b[l:]
	}
	return ps, bitmap, bound, b, true
}

// traceparentOf returns the value of a string attribute named traceparent.
func traceparentOf(ps []param) string {
	for _, p := range ps {
		if string(p.name) != "traceparent" || len(p.val) == 0 {
			continue
		}
		if l, k, ok := lenenc(p.val); ok && int(l) == len(p.val)-k {
			return string(p.val[k:])
		}
	}
	return ""
}

func noSkip(int) bool { return false }

// stripQueryAttrs turns a COM_QUERY packet (header included) with a
// query-attribute block into a plain one, in place, and returns the
// traceparent attribute if there is one.
func stripQueryAttrs(pkt []byte) ([]byte, string, *mysql.MyError) {
	b := pkt[5:]
	n, k, ok := lenenc(b)
	if !ok {
		return nil, "", errQueryAttrs("COM_QUERY")
	}
	b = b[k:]
	if _, k, ok = lenenc(b); !ok { // parameter_set_count, always 1
		return nil, "", errQueryAttrs("COM_QUERY")
	}
	b = b[k:]
	tp := ""
	if n > 0 {
		if n > uint64(len(b)) {
			return nil, "", errQueryAttrs("COM_QUERY")
		}
		ps, _, bound, rest, ok := readParams(b, int(n), nil, noSkip)
		if !ok || !bound {
			return nil, "", errQueryAttrs("COM_QUERY")
		}
		tp, b = traceparentOf(ps), rest
	}
	m := copy(pkt[5:], b)
	return pkt[:5+m], tp, nil
}

// stripExecuteAttrs turns a COM_STMT_EXECUTE packet of a client with query
// attributes into the plain form for statement ps: no parameter count, no
// names, no attribute parameters. It returns the traceparent attribute.
// buf is reused for the new packet.
func stripExecuteAttrs(pkt []byte, ps *prepared, buf []byte) ([]byte, string, *mysql.MyError) {
	pl := pkt[4:]
	if len(pl) < 10 || ps.params == 0 && pl[5]&mysql.PARAMETER_COUNT_AVAILABLE == 0 {
		return pkt, "", nil // nothing to strip (or malformed: handleExecute says so)
	}
	total, k, ok := lenenc(pl[10:])
	if !ok || total < uint64(ps.params) || total > uint64(len(pl)) {
		return nil, "", errQueryAttrs("COM_STMT_EXECUTE")
	}
	out := append(buf[:0], pkt[:14]...)
	out[9] &^= mysql.PARAMETER_COUNT_AVAILABLE
	if total == 0 {
		return out, "", nil
	}
	skip := func(i int) bool {
		return i < ps.params && i < len(ps.long.sizes) && ps.long.sizes[i] > 0
	}
	params, bitmap, bound, _, ok := readParams(pl[10+k:], int(total), ps.types, skip)
	if !ok || !bound && int(total) != ps.params {
		return nil, "", errQueryAttrs("COM_STMT_EXECUTE")
	}
	if ps.params > 0 {
		nb := (ps.params + 7) / 8
		out = append(out, bitmap[:nb]...)
		if r := ps.params % 8; r != 0 {
			out[len(out)-1] &= byte(1<<r) - 1 // attributes' null bits
		}
		if bound {
			out = append(out, 1)
			for _, p := range params[:ps.params] {
				out = append(out, p.typ, p.flag)
			}
		} else {
			out = append(out, 0)
		}
		for _, p := range params[:ps.params] {
			out = append(out, p.val...)
		}
	}
	return out, traceparentOf(params[ps.params:]), nil
}
