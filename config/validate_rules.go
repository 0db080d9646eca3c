package config

import (
	"net/netip"
	"strings"
)

// Regexp modifiers of query_rules[].re_modifiers.
const (
	ReCaseless = "CASELESS"
	ReGlobal   = "GLOBAL"
)

// ParseReModifiers returns the modifiers a rule's re_modifiers names: nil
// is CASELESS (ProxySQL's default); ok is false for an unknown modifier.
func ParseReModifiers(m *string) (caseless, global, ok bool) {
	if m == nil {
		return true, false, true
	}
	for f := range strings.SplitSeq(*m, ",") {
		switch strings.ToUpper(strings.TrimSpace(f)) {
		case "":
		case ReCaseless:
			caseless = true
		case ReGlobal:
			global = true
		default:
			return false, false, false
		}
	}
	return caseless, global, true
}

// ValidClientAddr reports whether a query rule's client_addr is an IP
// address, a CIDR subnet or a prefix ending in % (ProxySQL's wildcard).
func ValidClientAddr(a string) bool {
	if strings.HasSuffix(a, "%") {
		return !strings.ContainsAny(a[:len(a)-1], "%/")
	}
	if strings.Contains(a, "/") {
		_, err := netip.ParsePrefix(a)
		return err == nil
	}
	_, err := netip.ParseAddr(a)
	return err == nil
}

// validateRuleExtras checks the keys of issue 24 (chains, rewriting,
// mirroring, per-rule controls) of rule r at path.
func (p *problems) validateRuleExtras(path string, r QueryRule, known map[int]bool) {
	if r.FlagIN < 0 {
		p.add(path+".flag_in", "%d must be >= 0", r.FlagIN)
	}
	if r.FlagOUT != nil && *r.FlagOUT < 0 {
		p.add(path+".flag_out", "%d must be >= 0", *r.FlagOUT)
	}
	if r.MirrorFlagOUT != nil && *r.MirrorFlagOUT < 0 {
		p.add(path+".mirror_flag_out", "%d must be >= 0", *r.MirrorFlagOUT)
	}
	if _, _, ok := ParseReModifiers(r.ReModifiers); !ok {
		p.add(path+".re_modifiers", "%q: only CASELESS and GLOBAL are known (comma separated)", *r.ReModifiers)
	}
	if r.Digest != "" && !ValidDigestHash(r.Digest) {
		p.add(path+".digest", "%q is not a digest hash (0x and 16 hex digits)", r.Digest)
	}
	if r.ClientAddr != "" && !ValidClientAddr(r.ClientAddr) {
		p.add(path+".client_addr", "%q is not an IP address, a CIDR subnet nor a prefix ending in %%", r.ClientAddr)
	}
	if r.ProxyAddr != "" {
		if _, err := netip.ParseAddr(r.ProxyAddr); err != nil {
			p.add(path+".proxy_addr", "%q is not an IP address", r.ProxyAddr)
		}
	}
	if r.ProxyPort < 0 || r.ProxyPort > 65535 {
		p.add(path+".proxy_port", "%d is not a port (0 = any)", r.ProxyPort)
	}
	if r.ReplacePattern != "" && r.MatchPattern == "" {
		p.add(path+".replace_pattern", "needs match_pattern (the text it replaces)")
	}
	if r.ReplacePattern != "" && r.NegateMatchPattern {
		p.add(path+".replace_pattern", "cannot be used with negate_match_pattern (nothing matched to replace)")
	}
	if m := r.Multiplex; m != nil && (*m < 0 || *m > 2) {
		p.add(path+".multiplex", "%d must be 0, 1 or 2", *m)
	}
	if n := r.Retries; n != nil && (*n < 0 || *n > 1000) {
		p.add(path+".retries", "%d must be between 0 and 1000", *n)
	}
	p.timeout(path+".delay", r.Delay)
	if h := r.MirrorHostgroup; h != nil && !known[*h] {
		p.add(path+".mirror_hostgroup", "%d is not a known hostgroup (none of servers or replication_hostgroups names it)", *h)
	}
	if r.ErrorMsg != "" && r.OKMsg != "" {
		p.add(path+".ok_msg", "cannot be used with error_msg (a rule either blocks or answers OK)")
	}
}

// normalizeReModifiers writes re_modifiers CASELESS (the default, in any
// case) as unset, so that a rule read from YAML and the same rule read
// back from the admin tables are equal (and have one cluster checksum).
func normalizeReModifiers(r *QueryRule) {
	if r.ReModifiers != nil && strings.EqualFold(strings.TrimSpace(*r.ReModifiers), ReCaseless) {
		r.ReModifiers = nil
	}
}
