package session

import (
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"
)

// queryPacket is a COM_QUERY packet (with header space) carrying attrs.
func queryPacket(q string, names, values []string) []byte {
	p := []byte{0, 0, 0, 0, mysql.COM_QUERY}
	p = append(p, mysql.PutLengthEncodedInt(uint64(len(names)))...)
	p = append(p, 1)
	if len(names) > 0 {
		p = append(p, make([]byte, (len(names)+7)/8)...)
		p = append(p, 1)
		for _, n := range names {
			p = append(p, mysql.MYSQL_TYPE_STRING, 0)
			p = append(p, lenencStr(nil, n)...)
		}
		for _, v := range values {
			p = append(p, lenencStr(nil, v)...)
		}
	}
	return append(p, q...)
}

func TestStripQueryAttrs(t *testing.T) {
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	for _, tc := range []struct {
		name          string
		pkt           []byte
		query, parent string
	}{
		{"no attributes", queryPacket("SELECT 1", nil, nil), "SELECT 1", ""},
		{"traceparent among others", queryPacket("SELECT 2", []string{"a", "traceparent"}, []string{"x", tp}), "SELECT 2", tp},
		{"other attributes", queryPacket("SELECT 3", []string{"traceparentx"}, []string{tp}), "SELECT 3", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, got, me := stripQueryAttrs(tc.pkt)
			require.Nil(t, me)
			require.Equal(t, tc.query, string(out[5:]))
			require.Equal(t, byte(mysql.COM_QUERY), out[4])
			require.Equal(t, tc.parent, got)
		})
	}
	full := queryPacket("SELECT 1", []string{"traceparent"}, []string{tp})
	for _, bad := range [][]byte{
		{0, 0, 0, 0, mysql.COM_QUERY},                  // no block
		{0, 0, 0, 0, mysql.COM_QUERY, 0xfe, 1},         // truncated count
		{0, 0, 0, 0, mysql.COM_QUERY, 200, 1, 0, 1, 1}, // more attributes than bytes
		full[:len(full)-len("SELECT 1")-10],            // value cut
	} {
		_, _, me := stripQueryAttrs(bad)
		require.NotNil(t, me, "%v", bad)
	}
}

// qaExecutePacket is a COM_STMT_EXECUTE of a query-attribute client:
// params are the statement's (type LONGLONG, nil = NULL), then one string
// attribute traceparent.
func qaExecutePacket(params []any, tp string) []byte {
	total := len(params) + 1
	p := []byte{0, 0, 0, 0, mysql.COM_STMT_EXECUTE, 1, 0, 0, 0, mysql.PARAMETER_COUNT_AVAILABLE, 1, 0, 0, 0}
	p = append(p, mysql.PutLengthEncodedInt(uint64(total))...)
	bitmap := make([]byte, (total+7)/8)
	for i, v := range params {
		if v == nil {
			bitmap[i/8] |= 1 << (i % 8)
		}
	}
	p = append(append(p, bitmap...), 1)
	for range params {
		p = append(p, mysql.MYSQL_TYPE_LONGLONG, 0, 0)
	}
	p = append(p, mysql.MYSQL_TYPE_STRING, 0)
	p = append(p, lenencStr(nil, "traceparent")...)
	for _, v := range params {
		if v != nil {
			p = append(p, byte(v.(int)), 0, 0, 0, 0, 0, 0, 0)
		}
	}
	return append(p, lenencStr(nil, tp)...)
}

func TestStripExecuteAttrs(t *testing.T) {
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	// Nine parameters, the second NULL: the bitmap spans two bytes and the
	// attribute's null bit (bit 9) must not survive.
	params := []any{1, nil, 3, 4, 5, 6, 7, 8, 9}
	ps := &prepared{params: len(params)}
	out, got, me := stripExecuteAttrs(qaExecutePacket(params, tp), ps, nil)
	require.Nil(t, me)
	require.Equal(t, tp, got)
	want := []byte{0, 0, 0, 0, mysql.COM_STMT_EXECUTE, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0x02, 0x00, 1}
	for range params {
		want = append(want, mysql.MYSQL_TYPE_LONGLONG, 0)
	}
	for _, v := range params {
		if v != nil {
			want = append(want, byte(v.(int)), 0, 0, 0, 0, 0, 0, 0)
		}
	}
	require.Equal(t, want, out)
	typesAt, bound, ok := paramLayout(out[4:], ps.params)
	require.True(t, ok)
	require.True(t, bound)
	require.Equal(t, 13, typesAt)

	// A statement without parameters: the attribute block goes entirely.
	out, got, me = stripExecuteAttrs(qaExecutePacket(nil, tp), &prepared{}, nil)
	require.Nil(t, me)
	require.Equal(t, tp, got)
	require.Equal(t, []byte{0, 0, 0, 0, mysql.COM_STMT_EXECUTE, 1, 0, 0, 0, 0, 1, 0, 0, 0}, out)

	// Fewer parameters than the statement has: refused.
	_, _, me = stripExecuteAttrs(qaExecutePacket([]any{1}, tp)[:16], &prepared{params: 3}, nil)
	require.NotNil(t, me)
}

// FuzzStripAttrs: no attribute block, however malformed, panics; a block
// that is accepted leaves a packet whose statement part is within it.
func FuzzStripAttrs(f *testing.F) {
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	f.Add(queryPacket("SELECT 1", []string{"traceparent"}, []string{tp})[5:], 2)
	f.Add(qaExecutePacket([]any{1, nil, 3}, tp)[5:], 3)
	f.Add([]byte{200, 1, 0, 1}, 0)
	f.Fuzz(func(t *testing.T, body []byte, params int) {
		pkt := append([]byte{0, 0, 0, 0, mysql.COM_QUERY}, body...)
		if out, _, me := stripQueryAttrs(pkt); me == nil {
			require.LessOrEqual(t, len(out), len(pkt))
		}
		ps := &prepared{params: params % 64}
		if ps.params < 0 {
			ps.params = -ps.params
		}
		pkt = append([]byte{0, 0, 0, 0, mysql.COM_STMT_EXECUTE}, body...)
		_, _, _ = stripExecuteAttrs(pkt, ps, nil)
	})
}
