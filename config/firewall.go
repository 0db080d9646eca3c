package config

import (
	"fmt"
	"strings"
	"time"
)

// Firewall is the allow-list firewall: per user, statements are checked by
// digest against the user's allow-list (ProxySQL's
// mysql_firewall_whitelist_users and _rules, made learnable). Query rules
// with error_msg block statements as well, for every mode.
type Firewall struct {
	// Users puts users under the firewall; a user not listed is not checked.
	Users []FirewallUser `mapstructure:"users" json:",omitempty"`
	// Allow lists the statement digests a user may run.
	Allow []FirewallAllow `mapstructure:"allow" json:",omitempty"`
}

// Firewall modes of a user.
const (
	// FirewallOff checks nothing.
	FirewallOff = "off"
	// FirewallLearn runs every statement and adds its digest to the
	// user's learned allow-list, for LearnPeriod (then enforce), or for
	// as long as the mode stays when LearnPeriod is 0.
	FirewallLearn = "learn"
	// FirewallDetect runs every statement, but counts and logs the ones
	// that are not allowed.
	FirewallDetect = "detect"
	// FirewallEnforce refuses the statements that are not allowed.
	FirewallEnforce = "enforce"
)

var validFirewallModes = []string{FirewallOff, FirewallLearn, FirewallDetect, FirewallEnforce}

// FirewallUser is one user's firewall mode.
type FirewallUser struct {
	Username string `mapstructure:"username"`
	Mode     string `mapstructure:"mode"`
	// LearnPeriod, in mode learn, is how long digests are learned (from
	// the time the mode was applied on a node) before the user's
	// statements are enforced against what was learned and listed; 0 =
	// learn until the mode is changed.
	LearnPeriod time.Duration `mapstructure:"learn_period" json:",omitempty"`
	Comment     string        `mapstructure:"comment" json:",omitempty"`
}

// FirewallAllow allows one statement digest to one user.
type FirewallAllow struct {
	Username string `mapstructure:"username"`
	// Digest is the statement's digest hash as stats_mysql_query_digest
	// shows it (0x and 16 hex digits).
	Digest  string `mapstructure:"digest"`
	Comment string `mapstructure:"comment" json:",omitempty"`
}

// validateFirewall checks modes, periods and digests.
func (c *Config) validateFirewall(p *problems) {
	seen := make(map[string]int)
	for i, u := range c.Firewall.Users {
		path := fmt.Sprintf("firewall.users[%d]", i)
		p.nonEmpty(path+".username", u.Username)
		if j, dup := seen[u.Username]; dup {
			p.add(path+".username", "%q is a duplicate of firewall.users[%d]", u.Username, j)
		} else {
			seen[u.Username] = i
		}
		p.oneOf(path+".mode", u.Mode, validFirewallModes)
		p.timeout(path+".learn_period", u.LearnPeriod)
	}
	for i, a := range c.Firewall.Allow {
		path := fmt.Sprintf("firewall.allow[%d]", i)
		p.nonEmpty(path+".username", a.Username)
		if !ValidDigestHash(a.Digest) {
			p.add(path+".digest", "%q is not a digest hash (0x and 16 hex digits)", a.Digest)
		}
	}
}

// ValidDigestHash reports whether d is a digest hash as rwproxy shows it:
// 0x followed by 16 hex digits (either case).
func ValidDigestHash(d string) bool {
	if len(d) != 18 || !strings.HasPrefix(strings.ToLower(d), "0x") {
		return false
	}
	for _, r := range d[2:] {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}
