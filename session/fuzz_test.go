package session

import (
	"bytes"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"
)

// changeUserPayload builds a COM_CHANGE_USER payload.
func changeUserPayload(caps uint32, user string, auth []byte, db string, collation uint16, plugin string) []byte {
	p := append([]byte{mysql.COM_CHANGE_USER}, user...)
	p = append(p, 0)
	if caps&mysql.CLIENT_SECURE_CONNECTION != 0 {
		p = append(append(p, byte(len(auth))), auth...)
	} else {
		p = append(append(p, auth...), 0)
	}
	p = append(append(p, db...), 0)
	p = append(p, byte(collation), byte(collation>>8))
	if plugin != "" {
		p = append(append(p, plugin...), 0)
	}
	return p
}

const secureCaps = mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION | mysql.CLIENT_PLUGIN_AUTH

// FuzzParseChangeUser: arbitrary request bodies never panic the parser
// (dispatch guarantees the command byte, so it is always there), and what
// it accepts is made of NUL-free names.
func FuzzParseChangeUser(f *testing.F) {
	f.Add(changeUserPayload(secureCaps, "app", bytes.Repeat([]byte{1}, 20), "shop", 45, mysql.AUTH_NATIVE_PASSWORD)[1:], secureCaps)
	f.Add(changeUserPayload(secureCaps, "app", nil, "", 0, "")[1:], secureCaps)
	f.Add(changeUserPayload(mysql.CLIENT_PROTOCOL_41, "app", []byte("scramble"), "db", 8, "")[1:], uint32(mysql.CLIENT_PROTOCOL_41))
	f.Add([]byte("app\x00\xff"), secureCaps)         // auth length past the end
	f.Add([]byte("app\x00\x00db"), secureCaps)       // schema without terminator
	f.Add([]byte("app"), secureCaps)                 // user without terminator
	f.Add([]byte{}, secureCaps)                      // command byte only
	f.Add([]byte("app\x00\x00\x00\x21"), secureCaps) // one byte of collation
	f.Fuzz(func(t *testing.T, body []byte, caps uint32) {
		mustNotPanic(t, func() {
			pl := append([]byte{mysql.COM_CHANGE_USER}, body...)
			cu, ok := parseChangeUser(pl, caps)
			if !ok {
				return
			}
			require.NotContains(t, cu.user, "\x00")
			require.NotContains(t, cu.db, "\x00")
			require.Less(t, len(cu.user), len(pl))
		})
	})
}

// FuzzChangeUserRoundTrip: a well-formed request decodes to what was sent.
func FuzzChangeUserRoundTrip(f *testing.F) {
	f.Add("app", []byte("01234567890123456789"), "shop", uint8(45), true, "mysql_native_password")
	f.Add("", []byte(nil), "", uint8(0), true, "")
	f.Add("root", []byte("pw"), "", uint8(255), false, "")
	f.Fuzz(func(t *testing.T, user string, auth []byte, db string, collation uint8, secure bool, plugin string) {
		mustNotPanic(t, func() {
			user = stripNUL(user)
			db = stripNUL(db)
			plugin = stripNUL(plugin)
			caps := uint32(mysql.CLIENT_PROTOCOL_41)
			if secure {
				caps |= mysql.CLIENT_SECURE_CONNECTION
				if len(auth) > 255 {
					auth = auth[:255]
				}
			} else {
				auth = bytes.ReplaceAll(auth, []byte{0}, nil)
			}
			// Collation ids above 255 are left out: see the report on
			// parseChangeUser truncating the two-byte character set.
			cu, ok := parseChangeUser(changeUserPayload(caps, user, auth, db, uint16(collation), plugin), caps)
			require.True(t, ok)
			require.Equal(t, changeUser{user: user, db: db, collation: int(collation)}, cu)
		})
	})
}

func stripNUL(s string) string { return string(bytes.ReplaceAll([]byte(s), []byte{0}, nil)) }

// FuzzParamLayout: never panics, and when it reports bound types they are
// inside the packet; a packet without types gets them inserted by
// withTypes where paramLayout then finds them.
func FuzzParamLayout(f *testing.F) {
	f.Add(executePayload(1, true, []byte{mysql.MYSQL_TYPE_LONG, 0}, []byte{1, 0, 0, 0}), uint16(1))
	f.Add(executePayload(3, false, nil, []byte{1, 2, 3}), uint16(3))
	f.Add(executePayload(9, true, make([]byte, 17), nil), uint16(9))
	f.Add(executePayload(0, false, nil, nil), uint16(0))
	f.Add([]byte{mysql.COM_STMT_EXECUTE}, uint16(65535))
	f.Add([]byte{}, uint16(1))
	f.Fuzz(func(t *testing.T, pl []byte, params16 uint16) {
		mustNotPanic(t, func() {
			params := int(params16)
			typesAt, bound, ok := paramLayout(pl, params)
			if !ok {
				return
			}
			if params == 0 {
				require.False(t, bound)
				return
			}
			flagAt := 10 + (params+7)/8
			require.Equal(t, flagAt+1, typesAt)
			require.Less(t, flagAt, len(pl))
			require.Equal(t, pl[flagAt] == 1, bound)
			if bound {
				require.LessOrEqual(t, typesAt+2*params, len(pl), "types past the end of the packet")
				_ = pl[typesAt : typesAt+2*params] // what handleExecute copies
				return
			}
			pkt := append([]byte{0, 0, 0, 0}, pl...)
			orig := bytes.Clone(pkt)
			types := bytes.Repeat([]byte{mysql.MYSQL_TYPE_LONG, 0}, params)
			out := withTypes(pkt, 4+typesAt, types)
			require.Equal(t, orig, pkt)
			require.Len(t, out, len(pkt)+len(types))
			at, b, ok := paramLayout(out[4:], params)
			require.True(t, ok)
			require.True(t, b)
			require.Equal(t, typesAt, at)
			require.Equal(t, types, out[4+at:4+at+len(types)])
			require.Equal(t, pkt[4+typesAt:], out[4+at+len(types):])
		})
	})
}
