package session

import (
	"bytes"
	"encoding/binary"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/rwproxy/rwproxy/protocol"
)

// changeUser is a decoded COM_CHANGE_USER request.
type changeUser struct {
	user      string
	db        string
	collation int
}

func parseChangeUser(pl []byte, caps uint32) (changeUser, bool) {
	var cu changeUser
	if len(pl) < 2 {
		return cu, false
	}
	pos := 1
	i := bytes.IndexByte(pl[pos:], 0)
	if i < 0 {
		return cu, false
	}
	cu.user = string(pl[pos : pos+i])
	pos += i + 1
	if pos >= len(pl) {
		return cu, false
	}
	if caps&mysql.CLIENT_SECURE_CONNECTION != 0 {
		pos += 1 + int(pl[pos])
	} else {
		j := bytes.IndexByte(pl[pos:], 0)
		if j < 0 {
			return cu, false
		}
		pos += j + 1
	}
	if pos > len(pl) {
		return cu, false
	}
	if pos == len(pl) {
		return cu, true // no schema, no character set
	}
	j := bytes.IndexByte(pl[pos:], 0)
	if j < 0 {
		return cu, false
	}
	cu.db = string(pl[pos : pos+j])
	pos += j + 1
	if pos+2 <= len(pl) {
		cu.collation = int(binary.LittleEndian.Uint16(pl[pos:]))
	}
	return cu, true
}

// handleChangeUser re-authenticates the connection as another user (with
// mysql_native_password through an auth switch, whatever the user's
// plugin) and resets the session. A failed attempt closes the connection,
// as a server does.
func (s *Session) handleChangeUser(pkt []byte) error {
	cu, ok := parseChangeUser(pkt[4:], s.caps)
	if !ok {
		s.writeErr(protocol.NewErrMalformed("COM_CHANGE_USER"))
		return errQuit
	}
	salt := mysql.RandomBuf(20)
	sw := append([]byte{0, 0, 0, 0, mysql.EOF_HEADER}, mysql.AUTH_NATIVE_PASSWORD...)
	sw = append(append(append(sw, 0), salt...), 0)
	if err := protocol.WriteRaw(s.cl, sw); err != nil {
		return err
	}
	reply, err := s.cl.ReadPacket(nil, maxPacket(s.d))
	if err != nil {
		return err
	}
	u, found := findUser(s.d.Config(), cu.user)
	if !found || !protocol.CheckNativeScramble(u.Password, reply, salt) || !u.CanLogin() ||
		requireTLS(s.tls, u, cu.user, s.cl.RemoteAddr()) != nil {
		s.d.Stats.AuthFailures.Add(1)
		s.writeErr(mysql.NewDefaultError(mysql.ER_ACCESS_DENIED_ERROR, cu.user, s.cl.RemoteAddr().String(), "YES"))
		return errQuit
	}
	if cu.collation == 0 {
		cu.collation = s.charset
	}
	s.resetState(cu.collation)
	u.Password = u.BackendSecret() // backends are logged into with the plaintext
	s.user = u
	s.st.db = ""
	if cu.db != "" {
		if err := s.checkDB(cu.db); err != nil {
			if me := asMyError(err); me != nil {
				s.writeErr(me)
			}
			return errQuit
		}
	}
	return s.writeOK()
}
