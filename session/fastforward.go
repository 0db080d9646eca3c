package session

import (
	"strings"

	"github.com/rwproxy/rwproxy/router"
)

// classify classifies sql for routing. A fast_forward user's statements
// (ProxySQL's mysql_users.fast_forward, for replication clients and bulk
// loaders) are not classified at all: they are relayed as they are to
// the user's default hostgroup on one backend connection the session
// keeps until it ends (PinFastForward), so no statement can change state
// the proxy would have to track. Only KILL is recognised, because the
// connection ids the client knows are the proxy's.
func (s *Session) classify(sql string) router.Stmt {
	if !s.user.FastForward {
		s.cls.SetSQLMode(s.st.vars["sql_mode"])
		return s.cls.Classify(sql)
	}
	s.pins |= PinFastForward
	st := router.Stmt{Kind: router.KindWrite, AutocommitValue: -1}
	if t := strings.TrimLeft(sql, " \t\r\n"); len(t) > 5 && strings.EqualFold(t[:4], "kill") {
		if _, _, ok := parseKill(t); ok {
			st.Flags |= router.FlagKill
		}
	}
	return st
}
