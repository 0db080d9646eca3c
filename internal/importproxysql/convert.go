package importproxysql

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/rwproxy/rwproxy/config"
)

// Result is a converted configuration and what could not be carried over.
type Result struct {
	Config *config.Config
	// Unmapped lists the settings left out, each with the reason.
	Unmapped []string
	// Warnings are settings carried over with a change of meaning.
	Warnings []string
}

func (r *Result) unmapped(where, why string, args ...any) {
	r.Unmapped = append(r.Unmapped, where+": "+fmt.Sprintf(why, args...))
}

func (r *Result) warn(where, why string, args ...any) {
	r.Warnings = append(r.Warnings, where+": "+fmt.Sprintf(why, args...))
}

// Convert maps a parsed proxysql.cnf onto rwproxy's configuration. Only
// the settings read are in the result's Config (from config.Defaults);
// every other one is listed in Unmapped with the reason.
func Convert(doc *Value) *Result {
	r := &Result{Config: config.Defaults()}
	c := r.Config
	c.Users, c.Servers = nil, nil
	for _, s := range doc.Settings {
		switch s.Name {
		case "datadir":
			c.Admin.Datadir = s.Value.String()
		case "admin_variables":
			r.adminVariables(s.Value)
		case "mysql_variables":
			r.mysqlVariables(s.Value)
		case "mysql_servers":
			r.servers(s.Value)
		case "mysql_users":
			r.users(s.Value)
		case "mysql_query_rules":
			r.rules(s.Value)
		case "mysql_replication_hostgroups":
			r.replication(s.Value)
		case "mysql_group_replication_hostgroups":
			r.groupReplication(s.Value)
		case "errorlog", "logfile":
			r.unmapped(s.Name, "rwproxy logs to standard output/error; the service manager keeps the file")
		case "restart_on_missing_heartbeats", "execute_on_exit_failure":
			r.unmapped(s.Name, "rwproxy has no watchdog process; the service manager restarts it")
		case "proxysql_servers":
			r.unmapped(s.Name, "ProxySQL Cluster peers: set cluster.join (memberlist gossip) and cluster.secret instead")
		case "scheduler":
			r.scheduler(s.Value)
		case "mysql_galera_hostgroups", "mysql_aws_aurora_hostgroups":
			r.unmapped(s.Name, "Galera and Aurora topologies are not supported")
		case "mysql_query_rules_fast_routing":
			r.unmapped(s.Name, "write them as mysql_query_rules (username, schemaname, destination_hostgroup)")
		default:
			r.unmapped(s.Name, "no rwproxy equivalent")
		}
	}
	return r
}

// firstTCP returns the first host:port of a ProxySQL interface list
// ("0.0.0.0:6033;/tmp/proxysql.sock") and warns about the others.
func (r *Result) firstTCP(where, list string) string {
	var first string
	for _, a := range strings.Split(list, ";") {
		a = strings.TrimSpace(a)
		switch {
		case a == "":
		case strings.HasPrefix(a, "/"):
			r.unmapped(where, "%s: rwproxy listens on TCP only (no Unix socket)", a)
		case first == "":
			first = a
		default:
			r.unmapped(where, "%s: rwproxy listens on one address", a)
		}
	}
	return first
}

func ms(v *Value) time.Duration { return time.Duration(v.Int) * time.Millisecond }

func (r *Result) adminVariables(g *Value) {
	c := r.Config
	for _, s := range g.Settings {
		where := "admin_variables." + s.Name
		switch s.Name {
		case "mysql_ifaces":
			if a := r.firstTCP(where, s.Value.String()); a != "" {
				c.Admin.Listen = a
			}
		case "admin_credentials":
			pairs := strings.Split(s.Value.String(), ";")
			user, pass, _ := strings.Cut(pairs[0], ":")
			c.Admin.Username, c.Admin.Password = user, pass
			for _, p := range pairs[1:] {
				if u, _, _ := strings.Cut(p, ":"); u != "" {
					r.unmapped(where, "%s: rwproxy has one admin account (and one read-only account)", u)
				}
			}
		case "stats_credentials":
			pairs := strings.Split(s.Value.String(), ";")
			user, pass, _ := strings.Cut(pairs[0], ":")
			c.Admin.StatsUsername, c.Admin.StatsPassword = user, pass
		default:
			r.unmapped(where, "no rwproxy equivalent")
		}
	}
}

func (r *Result) mysqlVariables(g *Value) {
	c := r.Config
	for _, s := range g.Settings {
		where, v := "mysql_variables."+s.Name, s.Value
		switch s.Name {
		case "interfaces":
			if a := r.firstTCP(where, v.String()); a != "" {
				c.Listen = a
			}
		case "max_connections":
			c.MaxConnections = int(v.Int)
		case "server_version":
			c.ServerVersion = v.String()
		case "default_query_timeout":
			c.QueryTimeout = ms(v)
		case "monitor_username":
			c.Monitor.Username = v.String()
		case "monitor_password":
			c.Monitor.Password = v.String()
		case "monitor_ping_interval":
			c.Monitor.PingInterval = ms(v)
		case "monitor_read_only_interval":
			c.Monitor.ReadOnlyInterval = ms(v)
		case "monitor_replication_lag_interval":
			c.Monitor.ReplicationLagInterval = ms(v)
		case "connect_timeout_server":
			c.Pool.ConnectTimeout = ms(v)
		case "query_digests_track_hostname":
			c.Log.QueryDigestsTrackHostname = v.Int != 0 || v.Bool
		case "query_cache_size_MB":
			c.QueryCacheSizeMB = int(v.Int)
		case "threads":
			r.unmapped(where, "ProxySQL's threads are event loops; rwproxy's threads key (Go's GOMAXPROCS) is left at 0: by the load, up to the CPUs the process may use (README, Threads)")
		case "stacksize", "poll_timeout":
			r.unmapped(where, "the Go runtime schedules the sessions; there is no such setting")
		case "have_compress":
			r.unmapped(where, "client protocol compression is not supported")
		case "commands_stats", "sessions_sort", "query_digests":
			r.unmapped(where, "always on in rwproxy")
		default:
			r.unmapped(where, "no rwproxy equivalent")
		}
	}
}

// items returns a list's groups, noting anything else as unmapped.
func (r *Result) items(where string, l *Value) []*Value {
	var out []*Value
	for i, it := range l.Items {
		if it.Kind != KindGroup {
			r.unmapped(fmt.Sprintf("%s[%d]", where, i), "not a group { ... }")
			continue
		}
		out = append(out, it)
	}
	return out
}

// field reads the item's settings: known ones through set, the rest are
// listed as unmapped (defaults are not worth a line).
func (r *Result) fields(where string, g *Value, set func(name string, v *Value) (known bool)) {
	for _, s := range g.Settings {
		if !set(s.Name, s.Value) {
			r.unmapped(where+"."+s.Name, "no rwproxy equivalent")
		}
	}
}

func (r *Result) servers(l *Value) {
	for i, g := range r.items("mysql_servers", l) {
		where := fmt.Sprintf("mysql_servers[%d]", i)
		s := config.Server{Port: 3306, Weight: 1, Status: config.StatusOnline, MaxConnections: 1000}
		r.fields(where, g, func(name string, v *Value) bool {
			switch name {
			case "address", "hostname":
				s.Host = v.String()
			case "port":
				s.Port = int(v.Int)
			case "hostgroup", "hostgroup_id":
				s.Hostgroup = int(v.Int)
			case "status":
				s.Status = strings.ToUpper(v.String())
				if s.Status == "SHUNNED" {
					s.Status = config.StatusOnline
					r.warn(where+".status", "SHUNNED loads as ONLINE (the monitor shuns)")
				}
			case "weight":
				s.Weight = int(v.Int)
			case "max_connections":
				s.MaxConnections = int(v.Int)
			case "max_replication_lag":
				s.MaxReplicationLag = int(v.Int)
			case "use_ssl":
				s.UseTLS = v.Int != 0 || v.Bool
			case "comment":
				s.Comment = v.String()
			case "gtid_port":
				s.GTIDPort = int(v.Int)
			case "max_latency_ms":
				s.MaxLatency = ms(v)
			case "compression":
				if v.Int != 0 {
					r.unmapped(where+".compression", "client protocol compression to the backends is not supported; left off")
				}
			default:
				return false
			}
			return true
		})
		r.Config.Servers = append(r.Config.Servers, s)
	}
}

func (r *Result) users(l *Value) {
	type entry struct {
		u              config.User
		backend, front bool
		where          string
	}
	var order []string
	byName := map[string][]entry{}
	for i, g := range r.items("mysql_users", l) {
		where := fmt.Sprintf("mysql_users[%d]", i)
		e := entry{u: config.User{Consistency: config.ConsistencyEventual, ReadYourWritesTimeout: time.Second},
			backend: true, front: true, where: where}
		r.fields(where, g, func(name string, v *Value) bool {
			switch name {
			case "username":
				e.u.Username = v.String()
			case "password":
				e.u.Password = v.String()
			case "default_hostgroup":
				e.u.DefaultHostgroup = int(v.Int)
			case "active":
				if v.Int == 0 && !v.Bool && v.Kind != KindString {
					f := false
					e.u.Active = &f
				}
			case "max_connections":
				e.u.MaxConnections = int(v.Int)
			case "default_schema":
				e.u.DefaultSchema = v.String()
			case "schema_locked":
				e.u.SchemaLocked = v.Int != 0 || v.Bool
			case "transaction_persistent":
				if v.Int == 0 && !v.Bool {
					f := false
					e.u.TransactionPersistent = &f
					r.warn(where+".transaction_persistent", "0 is kept, but rwproxy keeps every transaction on one backend")
				}
			case "fast_forward":
				e.u.FastForward = v.Int != 0 || v.Bool
			case "use_ssl":
				e.u.RequireTLS = v.Int != 0 || v.Bool
			case "comment":
				e.u.Comment = v.String()
			case "attributes":
				e.u.Attributes = v.String()
			case "backend":
				e.backend = v.Int != 0 || v.Bool
			case "frontend":
				e.front = v.Int != 0 || v.Bool
			default:
				return false
			}
			return true
		})
		if _, ok := byName[e.u.Username]; !ok {
			order = append(order, e.u.Username)
		}
		byName[e.u.Username] = append(byName[e.u.Username], e)
	}
	for _, name := range order {
		var front, back *entry
		for i := range byName[name] {
			e := &byName[name][i]
			if e.front && front == nil {
				front = e
			}
			if e.backend && back == nil {
				back = e
			}
		}
		switch {
		case front == nil:
			f := false
			back.u.Frontend = &f
			r.Config.Users = append(r.Config.Users, back.u)
		case back == nil:
			r.unmapped(front.where, "user %q is frontend-only: rwproxy needs the password it logs into the backends with (add a backend=1 entry)", name)
		default:
			u := front.u
			if back != front && back.u.Password != u.Password {
				u.BackendPassword = back.u.Password
			}
			r.Config.Users = append(r.Config.Users, u)
		}
	}
}

func (r *Result) rules(l *Value) {
	for i, g := range r.items("mysql_query_rules", l) {
		where := fmt.Sprintf("mysql_query_rules[%d]", i)
		q := config.QueryRule{}
		skip := ""
		r.fields(where, g, func(name string, v *Value) bool {
			switch name {
			case "rule_id":
				q.RuleID = int(v.Int)
			case "active":
				q.Active = v.Int != 0 || v.Bool
			case "username":
				q.Username = v.String()
			case "schemaname":
				q.Schemaname = v.String()
			case "match_digest":
				q.MatchDigest = v.String()
			case "match_pattern":
				q.MatchPattern = v.String()
			case "destination_hostgroup":
				d := int(v.Int)
				q.DestinationHostgroup = &d
			case "apply":
				q.Apply = v.Int != 0 || v.Bool
			case "error_msg":
				q.ErrorMsg = v.String()
			case "comment":
				q.Comment = v.String()
			case "timeout":
				q.Timeout = ms(v)
			case "cache_ttl":
				q.CacheTTL = ms(v)
			case "cache_empty_result":
				b := v.Int != 0 || v.Bool
				q.CacheEmptyResult = &b
			case "cache_timeout":
				q.CacheTimeout = ms(v)
			case "next_query_flagIN", "reconnect", "gtid_from_hostgroup", "attributes":
				r.unmapped(where+"."+name, "no rwproxy equivalent")
			default:
				return ruleExtra(&q, name, v)
			}
			return true
		})
		if skip != "" {
			r.unmapped(where, "rule %d left out: %s", q.RuleID, skip)
			continue
		}
		r.Config.QueryRules = append(r.Config.QueryRules, q)
	}
	sort.SliceStable(r.Config.QueryRules, func(i, j int) bool {
		return r.Config.QueryRules[i].RuleID < r.Config.QueryRules[j].RuleID
	})
}

func (r *Result) replication(l *Value) {
	for i, g := range r.items("mysql_replication_hostgroups", l) {
		h := config.ReplicationHostgroup{CheckType: config.DefaultCheckType}
		r.fields(fmt.Sprintf("mysql_replication_hostgroups[%d]", i), g, func(name string, v *Value) bool {
			switch name {
			case "writer_hostgroup":
				h.WriterHostgroup = int(v.Int)
			case "reader_hostgroup":
				h.ReaderHostgroup = int(v.Int)
			case "check_type":
				h.CheckType = v.String()
			case "comment":
				h.Comment = v.String()
			default:
				return false
			}
			return true
		})
		r.Config.ReplicationHostgroups = append(r.Config.ReplicationHostgroups, h)
	}
}

func (r *Result) groupReplication(l *Value) {
	for i, g := range r.items("mysql_group_replication_hostgroups", l) {
		h := config.GroupReplicationHostgroup{MaxWriters: 1}
		r.fields(fmt.Sprintf("mysql_group_replication_hostgroups[%d]", i), g, func(name string, v *Value) bool {
			switch name {
			case "writer_hostgroup":
				h.WriterHostgroup = int(v.Int)
			case "backup_writer_hostgroup":
				h.BackupWriterHostgroup = int(v.Int)
			case "reader_hostgroup":
				h.ReaderHostgroup = int(v.Int)
			case "offline_hostgroup":
				h.OfflineHostgroup = int(v.Int)
			case "active":
				if v.Int == 0 && !v.Bool {
					f := false
					h.Active = &f
				}
			case "max_writers":
				h.MaxWriters = int(v.Int)
			case "writer_is_also_reader":
				h.WriterIsAlsoReader = int(v.Int)
			case "max_transactions_behind":
				h.MaxTransactionsBehind = int(v.Int)
			case "comment":
				h.Comment = v.String()
			default:
				return false
			}
			return true
		})
		r.Config.GroupReplicationHostgroups = append(r.Config.GroupReplicationHostgroups, h)
	}
}

func (r *Result) scheduler(l *Value) {
	for i, g := range r.items("scheduler", l) {
		j := config.SchedulerJob{Interval: 10 * time.Second}
		args := make([]string, config.MaxSchedulerArgs)
		last := -1
		r.fields(fmt.Sprintf("scheduler[%d]", i), g, func(name string, v *Value) bool {
			switch name {
			case "id":
				j.ID = int(v.Int)
			case "active":
				if v.Int == 0 && !v.Bool {
					f := false
					j.Active = &f
				}
			case "interval_ms":
				j.Interval = ms(v)
			case "filename":
				j.Filename = v.String()
			case "arg1", "arg2", "arg3", "arg4", "arg5":
				n := int(name[3] - '1')
				args[n], last = v.String(), max(last, n)
			case "comment":
				j.Comment = v.String()
			default:
				return false
			}
			return true
		})
		j.Args = args[:last+1]
		r.Config.Scheduler = append(r.Config.Scheduler, j)
	}
}
