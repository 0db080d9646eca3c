package importproxysql

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/rwproxy/rwproxy/config"
)

// yamlWriter writes the keys import-proxysql sets, in the order of
// configs/rwproxy.yaml; keys it does not write take rwproxy's defaults.
type yamlWriter struct {
	b strings.Builder
}

func (w *yamlWriter) line(indent int, format string, args ...any) {
	w.b.WriteString(strings.Repeat("  ", indent))
	fmt.Fprintf(&w.b, format, args...)
	w.b.WriteByte('\n')
}

// str quotes s for YAML (double-quoted style reads Go's escapes).
func str(s string) string { return strconv.Quote(s) }

func dur(d time.Duration) string { return str(d.String()) }

// WriteYAML writes c's imported keys as rwproxy YAML.
func WriteYAML(out io.Writer, source string, c *config.Config) error {
	w := &yamlWriter{}
	w.line(0, "# rwproxy configuration converted from %s by `rwproxy import-proxysql`.", source)
	w.line(0, "# Settings that could not be carried over are listed on standard error;")
	w.line(0, "# every key not written here takes its default (docs/configuration.md).")
	w.line(0, "listen: %s", str(c.Listen))
	w.line(0, "max_connections: %d", c.MaxConnections)
	w.line(0, "server_version: %s", str(c.ServerVersion))
	w.line(0, "query_timeout: %s", dur(c.QueryTimeout))
	if c.QueryCacheSizeMB != 0 {
		w.line(0, "query_cache_size_mb: %d", c.QueryCacheSizeMB)
	}
	if c.Log.QueryDigestsTrackHostname {
		w.line(0, "log:")
		w.line(1, "query_digests_track_hostname: true")
	}
	w.line(0, "admin:")
	w.line(1, "listen: %s", str(c.Admin.Listen))
	w.line(1, "datadir: %s", str(c.Admin.Datadir))
	w.line(1, "username: %s", str(c.Admin.Username))
	w.line(1, "password: %s", str(c.Admin.Password))
	if c.Admin.StatsUsername != "" {
		w.line(1, "stats_username: %s", str(c.Admin.StatsUsername))
		w.line(1, "stats_password: %s", str(c.Admin.StatsPassword))
	}
	w.line(0, "monitor:")
	w.line(1, "username: %s", str(c.Monitor.Username))
	w.line(1, "password: %s", str(c.Monitor.Password))
	w.line(1, "ping_interval: %s", dur(c.Monitor.PingInterval))
	w.line(1, "read_only_interval: %s", dur(c.Monitor.ReadOnlyInterval))
	w.line(1, "replication_lag_interval: %s", dur(c.Monitor.ReplicationLagInterval))
	w.line(0, "pool:")
	w.line(1, "connect_timeout: %s", dur(c.Pool.ConnectTimeout))

	w.line(0, "servers:")
	for _, s := range c.Servers {
		w.line(1, "- hostgroup: %d", s.Hostgroup)
		w.line(2, "host: %s", str(s.Host))
		w.line(2, "port: %d", s.Port)
		w.line(2, "weight: %d", s.Weight)
		w.line(2, "status: %s", s.Status)
		w.line(2, "max_connections: %d", s.MaxConnections)
		w.line(2, "max_replication_lag: %d", s.MaxReplicationLag)
		w.line(2, "use_tls: %t", s.UseTLS)
		w.line(2, "comment: %s", str(s.Comment))
		if s.GTIDPort != 0 {
			w.line(2, "gtid_port: %d", s.GTIDPort)
		}
		if s.MaxLatency != 0 {
			w.line(2, "max_latency: %s", dur(s.MaxLatency))
		}
	}
	w.line(0, "users:")
	for _, u := range c.Users {
		w.line(1, "- username: %s", str(u.Username))
		w.line(2, "password: %s", str(u.Password))
		w.line(2, "default_hostgroup: %d", u.DefaultHostgroup)
		w.line(2, "max_connections: %d", u.MaxConnections)
		w.line(2, "active: %t", u.IsActive())
		if u.BackendPassword != "" {
			w.line(2, "backend_password: %s", str(u.BackendPassword))
		}
		if u.RequireTLS {
			w.line(2, "require_tls: true")
		}
		if !u.IsFrontend() {
			w.line(2, "frontend: false")
		}
		if u.DefaultSchema != "" {
			w.line(2, "default_schema: %s", str(u.DefaultSchema))
		}
		if u.SchemaLocked {
			w.line(2, "schema_locked: true")
		}
		if !u.IsTransactionPersistent() {
			w.line(2, "transaction_persistent: false")
		}
		if u.FastForward {
			w.line(2, "fast_forward: true")
		}
		if u.Attributes != "" {
			w.line(2, "attributes: %s", str(u.Attributes))
		}
		if u.Comment != "" {
			w.line(2, "comment: %s", str(u.Comment))
		}
	}
	if len(c.ReplicationHostgroups) > 0 {
		w.line(0, "replication_hostgroups:")
		for _, h := range c.ReplicationHostgroups {
			w.line(1, "- writer_hostgroup: %d", h.WriterHostgroup)
			w.line(2, "reader_hostgroup: %d", h.ReaderHostgroup)
			w.line(2, "check_type: %s", str(h.CheckType))
			w.line(2, "comment: %s", str(h.Comment))
		}
	}
	if len(c.GroupReplicationHostgroups) > 0 {
		w.line(0, "group_replication_hostgroups:")
		for _, g := range c.GroupReplicationHostgroups {
			w.line(1, "- writer_hostgroup: %d", g.WriterHostgroup)
			w.line(2, "backup_writer_hostgroup: %d", g.BackupWriterHostgroup)
			w.line(2, "reader_hostgroup: %d", g.ReaderHostgroup)
			w.line(2, "offline_hostgroup: %d", g.OfflineHostgroup)
			w.line(2, "active: %t", g.IsActive())
			w.line(2, "max_writers: %d", g.MaxWriters)
			w.line(2, "writer_is_also_reader: %d", g.WriterIsAlsoReader)
			w.line(2, "max_transactions_behind: %d", g.MaxTransactionsBehind)
			w.line(2, "comment: %s", str(g.Comment))
		}
	}
	if len(c.QueryRules) > 0 {
		w.line(0, "query_rules:")
		for _, q := range c.QueryRules {
			w.line(1, "- rule_id: %d", q.RuleID)
			w.line(2, "active: %t", q.Active)
			w.line(2, "apply: %t", q.Apply)
			for _, kv := range [][2]string{{"username", q.Username}, {"schemaname", q.Schemaname},
				{"match_digest", q.MatchDigest}, {"match_pattern", q.MatchPattern}, {"error_msg", q.ErrorMsg},
				{"comment", q.Comment}} {
				if kv[1] != "" {
					w.line(2, "%s: %s", kv[0], str(kv[1]))
				}
			}
			if q.DestinationHostgroup != nil {
				w.line(2, "destination_hostgroup: %d", *q.DestinationHostgroup)
			}
			if q.Timeout != 0 {
				w.line(2, "timeout: %s", dur(q.Timeout))
			}
			w.ruleExtras(q)
		}
	}
	if len(c.Scheduler) > 0 {
		w.line(0, "scheduler:")
		for _, j := range c.Scheduler {
			w.line(1, "- id: %d", j.ID)
			w.line(2, "active: %t", j.IsActive())
			w.line(2, "interval: %s", dur(j.Interval))
			w.line(2, "filename: %s", str(j.Filename))
			if len(j.Args) > 0 {
				quoted := make([]string, len(j.Args))
				for i, a := range j.Args {
					quoted[i] = str(a)
				}
				w.line(2, "args: [%s]", strings.Join(quoted, ", "))
			}
			w.line(2, "comment: %s", str(j.Comment))
		}
	}
	_, err := io.WriteString(out, w.b.String())
	return err
}

// Main runs `rwproxy import-proxysql <proxysql.cnf>`: the YAML on out,
// what was left out (and why) and validation problems on errOut. The
// exit code is 0 when the result validates, 1 when it does not (the YAML
// is still written, to be fixed by hand), 2 on a usage or read error.
func Main(args []string, out, errOut io.Writer, readFile func(string) ([]byte, error)) int {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(errOut, "usage: rwproxy import-proxysql <proxysql.cnf>  (YAML on standard output, notes on standard error)")
		return 2
	}
	raw, err := readFile(args[0])
	if err != nil {
		fmt.Fprintf(errOut, "import-proxysql: %v\n", err)
		return 2
	}
	doc, err := Parse(string(raw))
	if err != nil {
		fmt.Fprintf(errOut, "import-proxysql: %s: %v\n", args[0], err)
		return 2
	}
	res := Convert(doc)
	for _, u := range res.Unmapped {
		fmt.Fprintf(errOut, "not carried over: %s\n", u)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(errOut, "warning: %s\n", w)
	}
	if err := WriteYAML(out, args[0], res.Config); err != nil {
		fmt.Fprintf(errOut, "import-proxysql: %v\n", err)
		return 2
	}
	c := res.Config.Clone()
	c.FillDefaults()
	if err := c.Validate(); err != nil {
		fmt.Fprintf(errOut, "the converted configuration does not validate; fix these before starting rwproxy:\n%v\n", err)
		return 1
	}
	return 0
}
