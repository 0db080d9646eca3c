package admin

import (
	"strconv"
	"strings"

	"github.com/rwproxy/rwproxy/internal/buildinfo"
)

// sysVars answer @@variables that MySQL clients and connectors read when
// they connect (the mysql/mariadb CLI sends "select @@version_comment
// limit 1"; JDBC and others read a dozen more). Unknown ones read NULL
// rather than fail: a client's connect-time query must never error.
var sysVars = map[string]string{
	"version_comment":          "rwproxy admin",
	"auto_increment_increment": "1",
	"autocommit":               "1",
	"character_set_client":     "utf8mb4",
	"character_set_connection": "utf8mb4",
	"character_set_results":    "utf8mb4",
	"character_set_server":     "utf8mb4",
	"character_set_database":   "utf8mb4",
	"character_set_system":     "utf8mb3",
	"collation_connection":     "utf8mb4_general_ci",
	"collation_server":         "utf8mb4_general_ci",
	"collation_database":       "utf8mb4_general_ci",
	"init_connect":             "",
	"interactive_timeout":      "28800",
	"license":                  "Apache-2.0",
	"lower_case_table_names":   "0",
	"max_allowed_packet":       "67108864",
	"net_buffer_length":        "16384",
	"net_write_timeout":        "60",
	"performance_schema":       "0",
	"query_cache_size":         "0",
	"query_cache_type":         "OFF",
	"sql_mode":                 "",
	"sql_select_limit":         "18446744073709551615",
	"system_time_zone":         "UTC",
	"time_zone":                "SYSTEM",
	"transaction_isolation":    "REPEATABLE-READ",
	"tx_isolation":             "REPEATABLE-READ",
	"transaction_read_only":    "0",
	"tx_read_only":             "0",
	"wait_timeout":             "28800",
	"warning_count":            "0",
	"error_count":              "0",
}

// sysVarLiteral returns the SQL literal for @@name ("NULL" when unknown).
// rwproxy's own variables (@@mysql-max_connections) read the running value.
func (e *engine) sysVarLiteral(raw string, sess *adminSession) string {
	name := strings.ToLower(strings.TrimPrefix(raw, "@@"))
	for _, scope := range []string{"global.", "session.", "local."} {
		name = strings.TrimPrefix(name, scope)
	}
	switch name {
	case "version":
		return quoteString(e.version)
	case "hostname":
		return quoteString("rwproxy")
	case "port":
		return "0"
	case "read_only", "admin-read_only":
		// ProxySQL's admin read-only mode (PROXYSQL READONLY).
		if e.adminReadOnly.Load() {
			return "1"
		}
		return "0"
	case "admin-version":
		// ProxySQL's @@admin-version: the version alone, as ProxySQL
		// answers it (tools compare it); @@version has the rest.
		return quoteString(buildinfo.Get().Version)
	}
	if v, ok := lookupVariable(name); ok {
		if isSecretVariable(v.name) {
			return "NULL"
		}
		return quoteString(v.get(e.rt.Config()))
	}
	if v, ok := sysVars[name]; ok {
		if _, err := strconv.ParseInt(v, 10, 64); err == nil {
			return v
		}
		return quoteString(v)
	}
	_ = sess
	return "NULL"
}

// funcLiteral returns the SQL literal replacing a MySQL function SQLite
// lacks, or "" when name is not one of them.
func (e *engine) funcLiteral(name string, sess *adminSession) string {
	switch strings.ToUpper(name) {
	case "DATABASE", "SCHEMA":
		return quoteString(sess.DB)
	case "USER", "CURRENT_USER", "SESSION_USER", "SYSTEM_USER":
		host, _ := splitAddr(sess.Addr)
		return quoteString(sess.User + "@" + host)
	case "VERSION":
		return quoteString(e.version)
	case "CONNECTION_ID":
		return "0"
	case "NOW", "SYSDATE", "CURRENT_TIMESTAMP":
		return "datetime('now', 'localtime')"
	case "UNIX_TIMESTAMP":
		return "CAST(strftime('%s', 'now') AS INTEGER)"
	}
	return ""
}

// selectListEnd are the keywords that end a SELECT's column list.
var selectListEnd = map[string]bool{
	"FROM": true, "WHERE": true, "LIMIT": true, "ORDER": true, "GROUP": true, "HAVING": true,
	"INTO": true, "UNION": true, "WINDOW": true,
}

// rewrite replaces what SQLite cannot run but MySQL clients send: @@system
// variables and a few functions (DATABASE(), USER(), VERSION(), NOW(), ...)
// become literals. In a SELECT's column list the literal keeps the MySQL
// column name (@@version_comment, DATABASE()) through an alias.
func rewrite(st []token, sess *adminSession, e *engine) []token {
	out := make([]token, 0, len(st))
	s := sig(st)
	isSelect := len(s) > 0 && s[0].is("SELECT")
	inList, depth := isSelect, 0
	for i := 0; i < len(st); i++ {
		t := st[i]
		switch {
		case t.kind == tkPunct && t.text == "(":
			depth++
		case t.kind == tkPunct && t.text == ")":
			depth--
		case t.kind == tkIdent && depth == 0 && selectListEnd[strings.ToUpper(t.text)]:
			inList = false
		}
		var lit string
		end := i
		switch t.kind {
		case tkSysVar:
			lit = e.sysVarLiteral(t.text, sess)
		case tkIdent:
			j := nextSig(st, i)
			if j > 0 && st[j].text == "(" {
				if k := nextSig(st, j); k > 0 && st[k].text == ")" {
					if lit = e.funcLiteral(t.text, sess); lit != "" {
						end = k
					}
				}
			} else if strings.EqualFold(t.text, "CURRENT_USER") {
				lit = e.funcLiteral(t.text, sess)
			}
		}
		if lit == "" {
			out = append(out, t)
			continue
		}
		name := join(st[i : end+1])
		out = append(out, token{kind: tkIdent, text: lit})
		if inList && depth == 0 && endsColumn(st, end) {
			out = append(out, token{kind: tkIdent, text: " AS " + quoteIdent(name)})
		}
		i = end
	}
	return out
}

// nextSig returns the index of the next significant token after i, or -1.
func nextSig(st []token, i int) int {
	for j := i + 1; j < len(st); j++ {
		if st[j].significant() {
			return j
		}
	}
	return -1
}

// endsColumn reports whether the token after i ends a select-list column
// (so an alias may follow).
func endsColumn(st []token, i int) bool {
	j := nextSig(st, i)
	if j < 0 {
		return true
	}
	t := st[j]
	return t.text == "," || (t.kind == tkIdent && selectListEnd[strings.ToUpper(t.text)])
}
