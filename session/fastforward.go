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
	return s.classifyText(sql, false)
}

// classifyQuery is classify for COM_QUERY. With digest statistics on
// (the default), route needs the statement's digest as well: it comes
// with the classification (router.Classifier.ClassifyDigest), so that a
// text statement of a shape the session ran recently is lexed once, not
// once to classify and once to normalize.
func (s *Session) classifyQuery(sql string) router.Stmt {
	return s.classifyText(sql, s.d.Digests != nil)
}

func (s *Session) classifyText(sql string, digest bool) router.Stmt {
	if !s.user.FastForward {
		s.cls.SetSQLMode(s.st.vars["sql_mode"])
		if digest {
			return s.cls.ClassifyDigest(sql)
		}
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
