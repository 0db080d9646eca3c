package session

import (
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"
)

const testTP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

// TestQueryWithAttrs: the attribute form of a COM_QUERY is the bytes the
// MySQL protocol specifies, and reading it back (as a server does, with
// the client-side reader) gives the statement and the traceparent.
func TestQueryWithAttrs(t *testing.T) {
	plain := append([]byte{0, 0, 0, 0, mysql.COM_QUERY}, "SELECT 1"...)
	got := queryWithAttrs(nil, plain, "")
	require.Equal(t, append([]byte{0, 0, 0, 0, mysql.COM_QUERY, 0, 1}, "SELECT 1"...), got, "an empty block")

	got = queryWithAttrs(nil, plain, testTP)
	want := []byte{0, 0, 0, 0, mysql.COM_QUERY, 1, 1, 0, 1, mysql.MYSQL_TYPE_STRING, 0, 11}
	want = append(want, "traceparent"...)
	want = append(want, byte(len(testTP)))
	want = append(want, testTP...)
	want = append(want, "SELECT 1"...)
	require.Equal(t, want, got)

	back, tp, me := stripQueryAttrs(append([]byte(nil), got...))
	require.Nil(t, me)
	require.Equal(t, testTP, tp)
	require.Equal(t, plain, back)
}

// TestExecuteWithAttrs: a plain execute (parameters with types bound, or
// not, or none) converted to the attribute form reads back, with the
// client-side reader, as the same parameters and the traceparent.
func TestExecuteWithAttrs(t *testing.T) {
	hdr := []byte{0, 0, 0, 0, mysql.COM_STMT_EXECUTE, 7, 0, 0, 0, 0, 1, 0, 0, 0}
	types := []byte{mysql.MYSQL_TYPE_LONGLONG, 0, mysql.MYSQL_TYPE_STRING, 0}
	values := []byte{42, 0, 0, 0, 0, 0, 0, 0, 1, 'x'}
	bound := append(append(append(append([]byte(nil), hdr...), 0, 1), types...), values...)
	unbound := append(append(append([]byte(nil), hdr...), 0, 0), values...)
	ps := &prepared{params: 2, types: types}
	for _, tc := range []struct {
		name  string
		plain []byte
		ps    *prepared
		tp    string
	}{
		{"bound, traceparent", bound, ps, testTP},
		{"bound, none", bound, ps, ""},
		{"types not resent, none", unbound, ps, ""},
		{"types not resent, traceparent", unbound, ps, testTP},
		{"no parameters, traceparent", hdr, &prepared{}, testTP},
		{"no parameters, none", hdr, &prepared{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, ok := executeWithAttrs(nil, tc.plain, tc.ps.params, tc.ps.types, tc.tp)
			require.True(t, ok)
			if tc.tp == "" && tc.ps.params == 0 {
				require.Equal(t, hdr, out, "nothing to add")
				return
			}
			require.Equal(t, tc.tp != "", out[9]&mysql.PARAMETER_COUNT_AVAILABLE != 0)
			require.Equal(t, byte(tc.ps.params+len(tc.tp)/len(testTP)), out[14], "parameter_count")
			back, tp, me := stripExecuteAttrs(out, tc.ps, nil)
			require.Nil(t, me)
			require.Equal(t, tc.tp, tp)
			want := tc.plain
			if tc.tp != "" && tc.ps.params > 0 {
				want = bound // types are sent with an attribute
			}
			require.Equal(t, want, back)
		})
	}
	_, ok := executeWithAttrs(nil, hdr[:10], 0, nil, "")
	require.False(t, ok, "short packet")
	_, ok = executeWithAttrs(nil, append(append([]byte(nil), hdr...), 0), 2, types, testTP)
	require.False(t, ok, "no bound flag")
}
