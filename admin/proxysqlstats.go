package admin

import (
	"encoding/json"

	"github.com/rwproxy/rwproxy/config"
)

// ProxySQL's stats_mysql_free_connections and
// monitor.mysql_server_connect_log.
var (
	tFreeConns = &table{name: "stats_mysql_free_connections", cols: []column{
		{name: "fd", typ: "INTEGER"}, {name: "hostgroup", typ: "INTEGER"}, {name: "srv_host", typ: "TEXT"},
		{name: "srv_port", typ: "INTEGER"}, {name: "user", typ: "TEXT"}, {name: "schema", typ: "TEXT"},
		{name: "init_connect", typ: "TEXT"}, {name: "time_zone", typ: "TEXT"}, {name: "sql_mode", typ: "TEXT"},
		{name: "autocommit", typ: "TEXT"}, {name: "idle_ms", typ: "INTEGER"}, {name: "statistics", typ: "TEXT"},
		{name: "mysql_info", typ: "TEXT"},
	}}
	tConnectLog = &table{name: "mysql_server_connect_log", cols: []column{
		{name: "hostname", typ: "TEXT"}, {name: "port", typ: "INTEGER"}, {name: "time_start_us", typ: "INTEGER"},
		{name: "connect_success_time_us", typ: "INTEGER"}, {name: "connect_error", typ: "TEXT"},
	}}
)

// freeConnRows fills stats_mysql_free_connections: one row per idle
// pooled backend connection. fd is the connection's thread id on the
// server; hostgroup is the first the server is in (rwproxy pools by
// server, not by hostgroup); time_zone, sql_mode and autocommit are
// empty when the connection has the server's default.
func freeConnRows(s *Stats, c *config.Config) []row {
	hg := make(map[string]int)
	for _, b := range backendRows(s.Topology, c) {
		if _, ok := hg[b.Addr]; !ok {
			hg[b.Addr] = b.Hostgroup
		}
	}
	out := make([]row, 0, len(s.FreeConns))
	for _, f := range s.FreeConns {
		host, port := splitAddr(f.Addr)
		var group any
		if g, ok := hg[f.Addr]; ok {
			group = int64(g)
		}
		stats, _ := json.Marshal(struct {
			AgeMs int64 `json:"age_ms"`
			Stmts int   `json:"prepared_statements"`
		}{f.Age.Milliseconds(), f.Stmts})
		info, _ := json.Marshal(struct {
			Version  string `json:"server_version"`
			ThreadID uint32 `json:"thread_id"`
		}{f.ServerVersion, f.ThreadID})
		out = append(out, row{int64(f.ThreadID), group, host, port, f.User, f.Schema, "", f.Vars["time_zone"],
			f.Vars["sql_mode"], f.Vars["autocommit"], f.Idle.Milliseconds(), string(stats), string(info)})
	}
	return out
}
