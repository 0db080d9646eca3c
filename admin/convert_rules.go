package admin

import (
	"time"

	"github.com/rwproxy/rwproxy/config"
)

// ruleExtraFields maps the query_rules keys of issue 24 to their
// mysql_query_rules column names where they differ (ProxySQL's spelling).
var ruleExtraFields = map[string]string{
	"flag_in": "flagIN", "flag_out": "flagOUT", "ok_msg": "OK_msg", "mirror_flag_out": "mirror_flagOUT",
}

// ruleExtrasRow returns the columns flagIN … mirror_flagOUT of rule q, in
// the order of tRules' columns.
func ruleExtrasRow(q config.QueryRule) row {
	var reMods any = config.ReCaseless
	if q.ReModifiers != nil {
		reMods = *q.ReModifiers
	}
	var delay any
	if q.Delay != 0 {
		delay = q.Delay.Milliseconds()
	}
	var port any
	if q.ProxyPort != 0 {
		port = int64(q.ProxyPort)
	}
	return row{int64(q.FlagIN), nullInt(q.FlagOUT), boolInt(q.NegateMatchPattern), reMods,
		nullString(q.Digest), nullString(q.ClientAddr), nullString(q.ProxyAddr), port,
		nullString(q.ReplacePattern), nullInt(q.Multiplex), nullBool(q.StickyConn), nullBool(q.Log),
		nullString(q.OKMsg), nullInt(q.Retries), delay, nullInt(q.MirrorHostgroup), nullInt(q.MirrorFlagOUT)}
}

// setRuleExtras fills q's keys of issue 24 from the columns flagIN …
// mirror_flagOUT (r starts at flagIN). re_modifiers 'CASELESS' (the
// default) and NULL both leave ReModifiers nil, so that a configuration
// read back from the tables equals the one written to them.
func setRuleExtras(q *config.QueryRule, r row) {
	if len(r) < 17 {
		return
	}
	q.FlagIN, q.FlagOUT, q.NegateMatchPattern = asInt(r[0]), intPtr(r[1]), asInt(r[2]) == 1
	if r[3] != nil && asString(r[3]) != config.ReCaseless {
		m := asString(r[3])
		q.ReModifiers = &m
	}
	q.Digest, q.ClientAddr, q.ProxyAddr, q.ProxyPort = asString(r[4]), asString(r[5]), asString(r[6]), asInt(r[7])
	q.ReplacePattern, q.Multiplex = asString(r[8]), intPtr(r[9])
	q.StickyConn, q.Log, q.OKMsg = asInt(r[10]) == 1, asInt(r[11]) == 1, asString(r[12])
	q.Retries, q.Delay = intPtr(r[13]), time.Duration(asInt(r[14]))*time.Millisecond
	q.MirrorHostgroup, q.MirrorFlagOUT = intPtr(r[15]), intPtr(r[16])
}

// nullInt maps a nil pointer to NULL.
func nullInt(p *int) any {
	if p == nil {
		return nil
	}
	return int64(*p)
}

// intPtr maps NULL to nil.
func intPtr(v any) *int {
	if v == nil {
		return nil
	}
	n := asInt(v)
	return &n
}

// nullBool maps false to NULL (the column's unset state) and true to 1.
func nullBool(b bool) any {
	if !b {
		return nil
	}
	return int64(1)
}
