package session

import (
	"bytes"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"
)

// executePayload builds a COM_STMT_EXECUTE payload: command, statement id,
// flags, iteration count, NULL bitmap, new-params-bound flag, then types
// (when bound) and values.
func executePayload(params int, bound bool, types, values []byte) []byte {
	p := []byte{mysql.COM_STMT_EXECUTE, 7, 0, 0, 0, 0, 1, 0, 0, 0}
	if params == 0 {
		return p
	}
	p = append(p, make([]byte, (params+7)/8)...)
	if bound {
		p = append(append(p, 1), types...)
	} else {
		p = append(p, 0)
	}
	return append(p, values...)
}

func TestParamLayout(t *testing.T) {
	long := mysql.MYSQL_TYPE_LONGLONG
	tests := []struct {
		name    string
		pl      []byte
		params  int
		typesAt int
		bound   bool
		ok      bool
	}{
		{"no parameters", executePayload(0, false, nil, nil), 0, 0, false, true},
		{"no parameters, trailing bytes ignored", append(executePayload(0, false, nil, nil), 1, 2), 0, 0, false, true},
		{"one bound parameter", executePayload(1, true, []byte{long, 0}, []byte{1, 0, 0, 0, 0, 0, 0, 0}), 1, 12, true, true},
		{"one parameter, types not resent", executePayload(1, false, nil, []byte{1, 0, 0, 0, 0, 0, 0, 0}), 1, 12, false, true},
		{"eight parameters: one bitmap byte", executePayload(8, true, make([]byte, 16), nil), 8, 12, true, true},
		{"nine parameters: two bitmap bytes", executePayload(9, true, make([]byte, 18), nil), 9, 13, true, true},
		{"bound, types truncated", executePayload(2, true, []byte{long, 0, long}, nil), 2, 12, true, false},
		{"bound, types exactly fill the packet", executePayload(2, true, []byte{long, 0, long, 0}, nil), 2, 12, true, true},
		{"flag byte missing", executePayload(1, false, nil, nil)[:11], 1, 0, false, false},
		{"header only", []byte{mysql.COM_STMT_EXECUTE, 7, 0, 0, 0, 0, 1, 0, 0, 0}, 3, 0, false, false},
		{"empty payload", nil, 1, 0, false, false},
		{"flag other than 1 is not bound", append(executePayload(1, false, nil, nil)[:11], 2), 1, 12, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			typesAt, bound, ok := paramLayout(tc.pl, tc.params)
			require.Equal(t, tc.ok, ok, "ok")
			if !ok {
				return
			}
			require.Equal(t, tc.typesAt, typesAt, "typesAt")
			require.Equal(t, tc.bound, bound, "bound")
		})
	}
}

func TestWithTypes(t *testing.T) {
	long, str := mysql.MYSQL_TYPE_LONGLONG, mysql.MYSQL_TYPE_VAR_STRING
	types := []byte{long, 0, str, 0}
	values := []byte{42, 0, 0, 0, 0, 0, 0, 0, 2, 'h', 'i'}
	pkt := append([]byte{0, 0, 0, 0}, executePayload(2, false, nil, values)...)
	orig := bytes.Clone(pkt)
	typesAt, bound, ok := paramLayout(pkt[4:], 2)
	require.True(t, ok)
	require.False(t, bound)

	out := withTypes(pkt, 4+typesAt, types)
	require.Equal(t, orig, pkt, "the client's packet is not modified")
	require.Equal(t, append([]byte{0, 0, 0, 0}, executePayload(2, true, types, values)...), out)
	// What the backend decodes from the rewritten packet.
	typesAt2, bound2, ok2 := paramLayout(out[4:], 2)
	require.True(t, ok2)
	require.True(t, bound2)
	require.Equal(t, types, out[4+typesAt2:4+typesAt2+4])
	require.Equal(t, values, out[4+typesAt2+4:])
}
