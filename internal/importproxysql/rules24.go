package importproxysql

import (
	"strings"

	"github.com/rwproxy/rwproxy/config"
)

// ruleExtra maps the mysql_query_rules columns of rule chains, rewriting,
// mirroring and per-rule controls (issue 24) to q; false: not one of them.
func ruleExtra(q *config.QueryRule, name string, v *Value) bool {
	n := int(v.Int)
	switch name {
	case "re_modifiers":
		if m := v.String(); !strings.EqualFold(m, config.ReCaseless) {
			q.ReModifiers = &m
		}
	case "flagIN":
		q.FlagIN = n
	case "flagOUT":
		q.FlagOUT = &n
	case "negate_match_pattern":
		q.NegateMatchPattern = n != 0 || v.Bool
	case "replace_pattern":
		q.ReplacePattern = v.String()
	case "OK_msg":
		q.OKMsg = v.String()
	case "multiplex":
		q.Multiplex = &n
	case "mirror_hostgroup":
		q.MirrorHostgroup = &n
	case "mirror_flagOUT":
		q.MirrorFlagOUT = &n
	case "log":
		q.Log = n != 0 || v.Bool
	case "sticky_conn":
		q.StickyConn = n != 0 || v.Bool
	case "retries":
		q.Retries = &n
	case "delay":
		q.Delay = ms(v)
	case "client_addr":
		q.ClientAddr = v.String()
	case "proxy_addr":
		q.ProxyAddr = v.String()
	case "proxy_port":
		q.ProxyPort = n
	case "digest":
		q.Digest = v.String()
	default:
		return false
	}
	return true
}

// ruleExtras writes the keys ruleExtra reads, when set.
func (w *yamlWriter) ruleExtras(q config.QueryRule) {
	for _, kv := range [][2]string{{"replace_pattern", q.ReplacePattern}, {"ok_msg", q.OKMsg},
		{"client_addr", q.ClientAddr}, {"proxy_addr", q.ProxyAddr}, {"digest", q.Digest}} {
		if kv[1] != "" {
			w.line(2, "%s: %s", kv[0], str(kv[1]))
		}
	}
	if q.ReModifiers != nil {
		w.line(2, "re_modifiers: %s", str(*q.ReModifiers))
	}
	for _, kv := range []struct {
		key string
		on  bool
	}{{"negate_match_pattern", q.NegateMatchPattern}, {"log", q.Log}, {"sticky_conn", q.StickyConn}} {
		if kv.on {
			w.line(2, "%s: true", kv.key)
		}
	}
	if q.FlagIN != 0 {
		w.line(2, "flag_in: %d", q.FlagIN)
	}
	if q.ProxyPort != 0 {
		w.line(2, "proxy_port: %d", q.ProxyPort)
	}
	for _, kv := range []struct {
		key string
		v   *int
	}{{"flag_out", q.FlagOUT}, {"multiplex", q.Multiplex}, {"retries", q.Retries},
		{"mirror_hostgroup", q.MirrorHostgroup}, {"mirror_flag_out", q.MirrorFlagOUT}} {
		if kv.v != nil {
			w.line(2, "%s: %d", kv.key, *kv.v)
		}
	}
	if q.Delay != 0 {
		w.line(2, "delay: %s", dur(q.Delay))
	}
	w.ruleCache(q)
}

// ruleCache writes a rule's query-cache keys (docs/query-cache.md).
func (w *yamlWriter) ruleCache(q config.QueryRule) {
	if q.CacheTTL != 0 {
		w.line(2, "cache_ttl: %s", dur(q.CacheTTL))
	}
	if q.CacheEmptyResult != nil {
		w.line(2, "cache_empty_result: %t", *q.CacheEmptyResult)
	}
	if q.CacheTimeout != 0 {
		w.line(2, "cache_timeout: %s", dur(q.CacheTimeout))
	}
}
