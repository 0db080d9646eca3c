package session

import (
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/rwproxy/rwproxy/pool"
)

// A backend connection that negotiated CLIENT_QUERY_ATTRIBUTES (MySQL
// 8.0.23+, with tracing on: pool.Options.QueryAttributes) reads every
// COM_QUERY and COM_STMT_EXECUTE in the query-attribute form. The session
// keeps the plain form (queryattrs.go strips a client's attributes) and
// converts it for such a connection just before sending, adding the traced
// statement's span as a traceparent attribute, so that the server's own
// telemetry (MySQL's telemetry component, mysql_query_attribute_string())
// joins the trace. A statement that is not traced gets an empty block.

// attrTraceparent is the attribute's name.
const attrTraceparent = "traceparent"

// backendTraceparent is the traceparent forwarded for the running
// statement: its span's, "" when it is not traced.
func (s *Session) backendTraceparent() string {
	if s.span == nil {
		return ""
	}
	return s.span.Traceparent()
}

// forBackend returns the plain COM_QUERY or COM_STMT_EXECUTE pkt in the
// form c reads. ps is the prepared statement of an execute. The returned
// packet may live in s.attrBuf until the next call.
func (s *Session) forBackend(c *pool.Conn, pkt []byte, ps *prepared) ([]byte, bool) {
	if !c.QueryAttrs() || len(pkt) < 5 {
		return pkt, true
	}
	var out []byte
	ok := true
	switch pkt[4] {
	case mysql.COM_QUERY:
		out = queryWithAttrs(s.attrBuf, pkt, s.backendTraceparent())
	case mysql.COM_STMT_EXECUTE:
		out, ok = executeWithAttrs(s.attrBuf, pkt, ps.params, ps.types, s.backendTraceparent())
	default:
		return pkt, true
	}
	if cap(out) <= maxQABuf {
		s.attrBuf = out[:0]
	}
	return out, ok
}

// appendAttrName appends a string attribute's type and name.
func appendAttrName(b []byte, name string) []byte {
	b = append(b, mysql.MYSQL_TYPE_STRING, 0)
	b = mysql.AppendLengthEncodedInteger(b, uint64(len(name)))
	return append(b, name...)
}

func appendLenEncString(b []byte, v string) []byte {
	b = mysql.AppendLengthEncodedInteger(b, uint64(len(v)))
	return append(b, v...)
}

// queryWithAttrs is the COM_QUERY pkt (header included) with a
// query-attribute block: traceparent as its one attribute, or none when
// tp is "". buf is reused.
func queryWithAttrs(buf, pkt []byte, tp string) []byte {
	out := append(buf[:0], pkt[:5]...)
	if tp == "" {
		out = append(out, 0, 1) // parameter_count 0, parameter_set_count 1
	} else {
		out = append(out, 1, 1, 0, 1) // count 1, set count 1, null bitmap, types bound
		out = appendAttrName(out, attrTraceparent)
		out = appendLenEncString(out, tp)
	}
	return append(out, pkt[5:]...)
}

// executeWithAttrs is the plain COM_STMT_EXECUTE pkt (header included) of
// a statement of n parameters in the query-attribute form, with tp as a
// traceparent attribute after the parameters ("" = none). types are the
// parameters' types (2 bytes each), used when pkt does not bind them and
// an attribute must be added (types are then sent for all). buf is
// reused; ok is false when pkt is malformed.
func executeWithAttrs(buf, pkt []byte, n int, types []byte, tp string) ([]byte, bool) {
	pl := pkt[4:]
	if len(pl) < 10 {
		return pkt, false
	}
	total := n
	if tp != "" {
		total++
	}
	out := append(buf[:0], pkt[:14]...)
	out[9] &^= mysql.PARAMETER_COUNT_AVAILABLE
	if total == 0 {
		return out, true // nothing follows the header in either form
	}
	if tp != "" {
		out[9] |= mysql.PARAMETER_COUNT_AVAILABLE
	}
	out = mysql.AppendLengthEncodedInteger(out, uint64(total))
	rest := pl[10:]
	var bitmap, ptypes []byte
	bound := false
	if n > 0 {
		nb := (n + 7) / 8
		if len(rest) < nb+1 {
			return pkt, false
		}
		bitmap, bound, rest = rest[:nb], rest[nb] == 1, rest[nb+1:]
		if bound {
			if len(rest) < 2*n {
				return pkt, false
			}
			ptypes, rest = rest[:2*n], rest[2*n:]
		}
	}
	out = append(out, bitmap...)
	for range (total+7)/8 - len(bitmap) {
		out = append(out, 0) // the attribute is not NULL
	}
	if !bound && tp == "" {
		out = append(out, 0) // the server keeps the types it has
		return append(out, rest...), true
	}
	if !bound {
		if len(types) < 2*n {
			return pkt, false
		}
		ptypes = types
	}
	out = append(out, 1)
	for i := range n {
		out = append(out, ptypes[2*i], ptypes[2*i+1], 0) // no name
	}
	if tp != "" {
		out = appendAttrName(out, attrTraceparent)
	}
	out = append(out, rest...)
	if tp != "" {
		out = appendLenEncString(out, tp)
	}
	return out, true
}
