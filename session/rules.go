package session

import (
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/protocol"
	"github.com/rwproxy/rwproxy/router"
)

// RuleStats count what query rules did besides routing.
type RuleStats struct {
	// Rewrites: statements rewritten by replace_pattern.
	Rewrites atomic.Uint64
	// OKMsgs: statements answered by an OK_msg rule.
	OKMsgs atomic.Uint64
	// Blocked: statements refused by an error_msg rule.
	Blocked atomic.Uint64
}

// ruleState is what the query rules decided for the session (issue 24:
// sticky_conn) and what a rule match needs of it; what they decide for
// one statement (OK_msg, retries, mirroring) is its request's ruleStmt.
type ruleState struct {
	// addrs: client and proxy addresses, looked up once per session.
	addrs     bool
	client    netip.Addr
	clientTxt string
	local     netip.Addr
	localPort int

	// sticky is the hostgroup a sticky_conn rule bound the session to.
	sticky    int
	hasSticky bool
}

// ruleStmt is what the rules ask of the statement being run besides a
// destination (request.rule; ruleActions fills it in).
type ruleStmt struct {
	okMsg      string
	retries    int
	hasRetries bool
	mirror     mirrorTarget
}

// mirrorTarget is where a statement's copy goes (hasHG false: nowhere),
// and its text when the rules rewrote the copy apart (mirror_flagOUT).
type mirrorTarget struct {
	hg    int
	hasHG bool
	query string
}

// ruleInput fills in with the session's side of a rule match.
func (s *Session) ruleInput(in *router.RuleInput) {
	rs := &s.rules
	if !rs.addrs {
		rs.addrs = true
		if s.nc != nil {
			rs.client, rs.clientTxt, _ = hostAddr(s.nc.RemoteAddr())
			rs.local, _, rs.localPort = hostAddr(s.nc.LocalAddr())
		}
	}
	in.User, in.Schema = s.user.Username, s.st.db
	in.Client, in.ClientText, in.ProxyAddr, in.ProxyPort = rs.client, rs.clientTxt, rs.local, rs.localPort
}

// hostAddr splits a TCP address into its IP (v4 unmapped), the IP as text
// and the port; a Unix socket gives zero values.
func hostAddr(a net.Addr) (netip.Addr, string, int) {
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta == nil {
		return netip.Addr{}, "", 0
	}
	ap := ta.AddrPort()
	ip := ap.Addr().Unmap()
	return ip, ip.String(), int(ap.Port())
}

// matchRules evaluates the rules on statement sql (digest: its digest
// text, "" when no rule needs it).
func (s *Session) matchRules(rules *router.Rules, digest, sql string) router.RuleMatch {
	in := router.RuleInput{Digest: digest, Query: sql}
	s.ruleInput(&in)
	return rules.MatchInput(&in)
}

// applyRewrite makes st the classification of the rewritten statement
// and returns it: the backend receives the rewritten text, and it is
// routed as what it now is.
func (s *Session) applyRewrite(st *router.Stmt, rewritten string) string {
	*st = s.cls.Classify(rewritten)
	s.d.Stats.Rules.Rewrites.Add(1)
	return rewritten
}

// ruleActions applies what the matched rules ask of the session besides
// a destination. It runs when the statement is not refused.
func (s *Session) ruleActions(r *request, rules *router.Rules, m *router.RuleMatch, digest, sql string) {
	rs := &r.rule
	rs.okMsg = m.OKMsg
	rs.retries, rs.hasRetries = m.Retries, m.HasRetries
	if m.NoMultiplex {
		s.pins |= PinRule
	}
	if m.Log {
		s.log().Info("query rule matched", zap.Int("rule_id", m.RuleID), zap.String("user", s.user.Username),
			zap.String("digest", digest), zap.String("query", truncate(sql, 256)))
	}
	if m.HasMirror {
		rs.mirror = mirrorTarget{hg: m.MirrorHostgroup, hasHG: true}
		if m.HasMirrorFlag {
			// The copy's own evaluation, from mirror_flagOUT: it may be
			// rewritten or sent elsewhere.
			in := router.RuleInput{Digest: digest, Query: sql, Flag: m.MirrorFlag}
			s.ruleInput(&in)
			mm := rules.MatchInput(&in)
			if mm.Rewritten != "" {
				rs.mirror.query = mm.Rewritten
			}
			if mm.HasHostgroup {
				rs.mirror.hg = mm.Hostgroup
			}
		}
	}
	if m.Delay > 0 {
		s.ruleDelay(m.Delay)
	}
}

// ruleDelay holds the statement for d (a delay rule), or until the
// session ends.
func (s *Session) ruleDelay(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.ctx.Done():
	case <-t.C:
	}
}

// stickyTarget sends a read that nothing else routed to the hostgroup a
// sticky_conn rule bound the session to. Writes keep going to the writer:
// a sticky reporting session must not send them to a replica.
func (s *Session) stickyTarget(dec router.Decision) router.Decision {
	if !s.rules.hasSticky || dec.Target != router.TargetReader {
		return dec
	}
	return router.Decision{Target: router.TargetHostgroup, Hostgroup: s.rules.sticky, Reason: router.ReasonRule}
}

// noteSticky binds the session to hostgroup hg when a sticky_conn rule
// matched.
func (s *Session) noteSticky(m *router.RuleMatch, hg int) {
	if m.Sticky && !s.rules.hasSticky {
		s.rules.sticky, s.rules.hasSticky = hg, true
	}
}

// readRetries is how many times a failed read may be re-run: a rule's
// retries, else once.
func (s *Session) readRetries(r *request) int {
	if r.rule.hasRetries {
		return r.rule.retries
	}
	return 1
}

// answerOKMsg answers a statement a rule with OK_msg matched, without
// running it; it reports false when there is no such rule.
func (s *Session) answerOKMsg(r *request) (bool, error) {
	msg := r.rule.okMsg
	if msg == "" {
		return false, nil
	}
	r.rule.okMsg = ""
	s.d.Stats.Rules.OKMsgs.Add(1)
	st := s.status()
	s.out = append(s.out[:0], 0, 0, 0, 0, mysql.OK_HEADER, 0, 0, byte(st), byte(st>>8), 0, 0)
	if s.relay.ClientTrack {
		s.out = append(s.out, mysql.PutLengthEncodedString([]byte(msg))...)
	} else {
		s.out = append(s.out, msg...)
	}
	return true, protocol.WriteRaw(s.cl, s.out)
}

// ruleBlocked logs a statement an error_msg rule refused.
func (s *Session) ruleBlocked(m *router.RuleMatch, digest, sql string) *mysql.MyError {
	s.d.Stats.Rules.Blocked.Add(1)
	if ce := s.log().Check(zap.InfoLevel, "statement blocked by a query rule"); ce != nil {
		ce.Write(zap.Int("rule_id", m.RuleID), zap.String("user", s.user.Username), zap.String("digest", digest),
			zap.String("query", truncate(sql, 256)))
	}
	return &mysql.MyError{Code: mysql.ER_UNKNOWN_ERROR, State: "HY000", Message: m.ErrorMsg}
}
