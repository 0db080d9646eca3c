package admin

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// showProcesslist answers SHOW [FULL] PROCESSLIST on the admin port: the
// proxy's client sessions (not the admin connections), in MySQL's columns.
// Without FULL, Info is cut to 100 characters as MySQL does.
func (e *engine) showProcesslist(ctx context.Context, full bool) (*result, error) {
	info := "info"
	if !full {
		info = "substr(info, 1, 100)"
	}
	return e.runSQL(ctx, "SELECT SessionID AS Id, user AS User, cli_host || ':' || cli_port AS Host, db, "+
		"command AS Command, time_ms / 1000 AS Time, "+
		"CASE WHEN command = 'Query' THEN 'executing on hostgroup ' || hostgroup || ' (' || srv_host || ':' || srv_port || ')' "+
		"WHEN status_flags = 1 THEN 'in transaction' ELSE '' END AS State, "+
		info+" AS Info FROM stats.stats_mysql_processlist ORDER BY SessionID", true)
}

// kill runs KILL [CONNECTION | QUERY] id against a client session of the
// proxy (ids as stats_mysql_processlist.SessionID shows them).
func (e *engine) kill(sess *adminSession, s []token) (*result, error) {
	if sess.ReadOnly {
		return nil, newError(erReadOnly, "the read-only admin account may not KILL")
	}
	w := s[1:]
	query := false
	if len(w) > 0 && (w[0].is("QUERY") || w[0].is("CONNECTION")) {
		query = w[0].is("QUERY")
		w = w[1:]
	}
	if len(w) != 1 {
		return nil, newError(erSyntax, "use KILL [CONNECTION | QUERY] <id> (ids: SHOW PROCESSLIST)")
	}
	id, err := strconv.ParseUint(w[0].text, 10, 32)
	if err != nil {
		return nil, newError(erSyntax, fmt.Sprintf("KILL: %q is not a connection id", w[0].text))
	}
	k, ok := e.rt.(Killer)
	if !ok || !k.Kill(uint32(id), query) {
		return nil, newError(erNoSuchThread, fmt.Sprintf("Unknown thread id: %d", id))
	}
	return &result{}, nil
}

// proxysqlWhy says, for each of ProxySQL's PROXYSQL commands, why rwproxy
// has none (docs/admin.md, "PROXYSQL commands").
var proxysqlWhy = map[string]string{
	"PAUSE":     "rwproxy stops taking clients only to shut down (SIGTERM drains); take a node out of the load balancer instead",
	"RESUME":    "there is no PROXYSQL PAUSE to resume from",
	"FLUSH":     "rwproxy logs to standard output/error through zap; the service manager rotates the files (there is nothing to reopen)",
	"READONLY":  "the admin tables never block traffic; use the read-only admin account (admin.stats_username) for read-only access",
	"READWRITE": "there is no PROXYSQL READONLY mode to leave",
	"CHECKSUM":  "each module's checksum is in stats.cluster_checksums (and SELECT ... FROM disk.<table> compares the layers); LOAD ... DRY RUN shows differences",
	"START":     "the admin interface is part of the rwproxy process",
	"STOP":      "the admin interface is part of the rwproxy process",
	"RESTART":   "restart rwproxy through its service manager",
	"KILL":      "stop rwproxy through its service manager",
	"SHUTDOWN":  "stop rwproxy through its service manager (SIGTERM drains the sessions)",
}

// proxysqlCommand answers ProxySQL's PROXYSQL ... commands: none has an
// equivalent, and the error says why and where the documentation is.
func proxysqlCommand(s []token) error {
	what := ""
	if len(s) > 1 {
		what = strings.ToUpper(s[1].text)
	}
	why, ok := proxysqlWhy[what]
	if !ok {
		why = "unknown PROXYSQL command"
	}
	return newError(erNotSupported, fmt.Sprintf("PROXYSQL %s is not supported by rwproxy: %s (docs/admin.md, PROXYSQL commands)",
		strings.TrimSpace(what), why))
}
