package admin

import (
	"context"
	"fmt"
	"strconv"
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
