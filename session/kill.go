package session

import (
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// parseKill reads KILL [HARD|SOFT] [CONNECTION|QUERY [ID]] id.
func parseKill(sql string) (query bool, id uint64, ok bool) {
	f := strings.Fields(strings.TrimRight(strings.TrimSpace(sql), ";"))
	if len(f) < 2 || !strings.EqualFold(f[0], "kill") {
		return false, 0, false
	}
	for _, w := range f[1 : len(f)-1] {
		switch strings.ToLower(w) {
		case "query":
			query = true
		case "connection", "hard", "soft", "id":
		default:
			return false, 0, false
		}
	}
	id, err := strconv.ParseUint(f[len(f)-1], 10, 32)
	return query, id, err == nil
}

// handleKill answers KILL id for the proxy's own connection ids (the ones
// clients see in their handshake): KILL QUERY stops the statement the
// session is running on its backend; KILL CONNECTION also closes the
// session. A client may kill only its own user's sessions.
func (s *Session) handleKill(sql string) error {
	query, id, ok := parseKill(sql)
	if !ok {
		return s.writeErr(&mysql.MyError{Code: mysql.ER_PARSE_ERROR, State: "42000",
			Message: "rwproxy: cannot parse KILL; use KILL [CONNECTION|QUERY] <id>"})
	}
	target, owner := s.d.Registry.lookup(uint32(id))
	if target == nil {
		return s.writeErr(mysql.NewDefaultError(mysql.ER_NO_SUCH_THREAD, id))
	}
	if owner != s.user.Username {
		return s.writeErr(mysql.NewDefaultError(mysql.ER_KILL_DENIED_ERROR, id))
	}
	if target == s {
		if query {
			return s.writeOK()
		}
		return errQuit
	}
	s.d.Registry.kill(uint32(id), query)
	return s.writeOK()
}
