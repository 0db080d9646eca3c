package admin

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rwproxy/rwproxy/config"
)

// Variable name prefixes: each is its own module (LOAD MYSQL VARIABLES,
// LOAD ADMIN VARIABLES).
const (
	prefixMySQL = "mysql-"
	prefixAdmin = "admin-"
)

// variable maps one global_variables row to configuration fields.
type variable struct {
	name string
	// path is the configuration key, as written in the YAML file.
	path string
	get  func(c *config.Config) string
	// set parses v into c; the error says what a valid value looks like.
	set func(c *config.Config, v string) error
	// restart: the field is reload:"restart"; at start it always comes
	// from the YAML file, and a LOAD that changes it is refused.
	restart bool
}

func intVar(name, path string, f func(*config.Config) *int) variable {
	return variable{name: name, path: path,
		get: func(c *config.Config) string { return strconv.Itoa(*f(c)) },
		set: func(c *config.Config, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("%q is not an integer", v)
			}
			*f(c) = n
			return nil
		}}
}

// msVar is a duration shown and set in whole milliseconds.
func msVar(name, path string, f func(*config.Config) *time.Duration) variable {
	return variable{name: name, path: path,
		get: func(c *config.Config) string { return strconv.FormatInt(f(c).Milliseconds(), 10) },
		set: func(c *config.Config, v string) error {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || n < 0 {
				return fmt.Errorf("%q is not a number of milliseconds (an integer >= 0)", v)
			}
			*f(c) = time.Duration(n) * time.Millisecond
			return nil
		}}
}

func boolVar(name, path string, f func(*config.Config) *bool) variable {
	return variable{name: name, path: path,
		get: func(c *config.Config) string { return strconv.FormatBool(*f(c)) },
		set: func(c *config.Config, v string) error {
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "true", "1", "on", "yes":
				*f(c) = true
			case "false", "0", "off", "no":
				*f(c) = false
			default:
				return fmt.Errorf("%q is not a boolean (true or false)", v)
			}
			return nil
		}}
}

func strVar(name, path string, restart bool, f func(*config.Config) *string) variable {
	return variable{name: name, path: path, restart: restart,
		get: func(c *config.Config) string { return *f(c) },
		set: func(c *config.Config, v string) error { *f(c) = v; return nil }}
}

// variables are every global variable, in display order. Names are
// ProxySQL's where the setting means the same (and has the same unit).
var variables = []variable{
	strVar("mysql-interfaces", "listen", true, func(c *config.Config) *string { return &c.Listen }),
	strVar("mysql-server_version", "server_version", true, func(c *config.Config) *string { return &c.ServerVersion }),
	intVar("mysql-max_connections", "max_connections", func(c *config.Config) *int { return &c.MaxConnections }),
	msVar("mysql-shutdown_timeout_ms", "shutdown_timeout", func(c *config.Config) *time.Duration { return &c.ShutdownTimeout }),
	strVar("mysql-reader_fallback", "reader_fallback", false, func(c *config.Config) *string { return &c.ReaderFallback }),
	msVar("mysql-failover_buffer_ms", "failover_buffer", func(c *config.Config) *time.Duration { return &c.FailoverBuffer }),
	strVar("mysql-transaction_replay", "transaction_replay", false, func(c *config.Config) *string { return &c.TransactionReplay }),
	intVar("mysql-transaction_replay_max_size", "transaction_replay_max_size", func(c *config.Config) *int {
		return &c.TransactionReplayMaxSize
	}),
	intVar("mysql-transaction_replay_attempts", "transaction_replay_attempts", func(c *config.Config) *int {
		return &c.TransactionReplayAttempts
	}),
	msVar("mysql-transaction_replay_timeout_ms", "transaction_replay_timeout", func(c *config.Config) *time.Duration {
		return &c.TransactionReplayTimeout
	}),
	strVar("mysql-transaction_replay_commit_check", "transaction_replay_commit_check", false, func(c *config.Config) *string {
		return &c.TransactionReplayCommitCheck
	}),
	msVar("mysql-default_query_timeout", "query_timeout", func(c *config.Config) *time.Duration { return &c.QueryTimeout }),
	intVar("mysql-query_cache_size_MB", "query_cache_size_mb", func(c *config.Config) *int { return &c.QueryCacheSizeMB }),
	msVar("mysql-connect_timeout_ms", "pool.connect_timeout", func(c *config.Config) *time.Duration { return &c.Pool.ConnectTimeout }),
	intVar("mysql-pool_min_idle", "pool.min_idle", func(c *config.Config) *int { return &c.Pool.MinIdle }),
	intVar("mysql-pool_max_idle", "pool.max_idle", func(c *config.Config) *int { return &c.Pool.MaxIdle }),
	msVar("mysql-pool_idle_timeout_ms", "pool.idle_timeout", func(c *config.Config) *time.Duration { return &c.Pool.IdleTimeout }),
	msVar("mysql-connection_max_age_ms", "pool.max_lifetime", func(c *config.Config) *time.Duration { return &c.Pool.MaxLifetime }),
	msVar("mysql-pool_ping_after_ms", "pool.ping_after", func(c *config.Config) *time.Duration { return &c.Pool.PingAfter }),
	msVar("mysql-pool_wait_timeout_ms", "pool.wait_timeout", func(c *config.Config) *time.Duration { return &c.Pool.WaitTimeout }),
	strVar("mysql-monitor_username", "monitor.username", false, func(c *config.Config) *string { return &c.Monitor.Username }),
	strVar("mysql-monitor_password", "monitor.password", false, func(c *config.Config) *string { return &c.Monitor.Password }),
	msVar("mysql-monitor_interval_ms", "monitor.interval", func(c *config.Config) *time.Duration { return &c.Monitor.Interval }),
	msVar("mysql-monitor_timeout_ms", "monitor.timeout", func(c *config.Config) *time.Duration { return &c.Monitor.Timeout }),
	msVar("mysql-monitor_ping_interval", "monitor.ping_interval", func(c *config.Config) *time.Duration { return &c.Monitor.PingInterval }),
	msVar("mysql-monitor_read_only_interval", "monitor.read_only_interval", func(c *config.Config) *time.Duration { return &c.Monitor.ReadOnlyInterval }),
	msVar("mysql-monitor_replication_lag_interval", "monitor.replication_lag_interval", func(c *config.Config) *time.Duration {
		return &c.Monitor.ReplicationLagInterval
	}),
	intVar("mysql-monitor_shun_after_failures", "monitor.shun_after_failures", func(c *config.Config) *int { return &c.Monitor.ShunAfterFailures }),
	intVar("mysql-monitor_replication_lag_count", "monitor.lag_shun_after", func(c *config.Config) *int { return &c.Monitor.LagShunAfter }),
	intVar("mysql-monitor_replication_lag_unshun_count", "monitor.lag_unshun_after", func(c *config.Config) *int { return &c.Monitor.LagUnshunAfter }),
	strVar("mysql-monitor_replication_lag_use_percona_heartbeat", "monitor.heartbeat_table", false, func(c *config.Config) *string {
		return &c.Monitor.HeartbeatTable
	}),
	boolVar("mysql-query_digests_track_hostname", "log.query_digests_track_hostname", func(c *config.Config) *bool {
		return &c.Log.QueryDigestsTrackHostname
	}),
	boolVar("mysql-monitor_lag_weight_decay", "monitor.lag_weight_decay", func(c *config.Config) *bool { return &c.Monitor.LagWeightDecay }),
	{
		name: "admin-admin_credentials", path: "admin.username",
		get: func(c *config.Config) string { return c.Admin.Username + ":" + c.Admin.Password },
		set: func(c *config.Config, v string) error {
			user, pass, ok := strings.Cut(v, ":")
			if !ok || user == "" {
				return fmt.Errorf("%s", "must be user:password")
			}
			c.Admin.Username, c.Admin.Password = user, pass
			return nil
		},
	},
	{
		name: "admin-stats_credentials", path: "admin.stats_username",
		get: func(c *config.Config) string {
			if c.Admin.StatsUsername == "" {
				return ""
			}
			return c.Admin.StatsUsername + ":" + c.Admin.StatsPassword
		},
		set: func(c *config.Config, v string) error {
			if v == "" {
				c.Admin.StatsUsername, c.Admin.StatsPassword = "", ""
				return nil
			}
			user, pass, ok := strings.Cut(v, ":")
			if !ok || user == "" {
				return fmt.Errorf("%s", "must be user:password, or empty for no read-only account")
			}
			c.Admin.StatsUsername, c.Admin.StatsPassword = user, pass
			return nil
		},
	},
	strVar("admin-mysql_ifaces", "admin.listen", true, func(c *config.Config) *string { return &c.Admin.Listen }),
}

// lookupVariable returns the variable named name (case-insensitive).
func lookupVariable(name string) (*variable, bool) {
	for i := range variables {
		if strings.EqualFold(variables[i].name, name) {
			return &variables[i], true
		}
	}
	return nil, false
}

// variableOfPath returns the variable that sets the configuration key
// path ("monitor.interval"), or "".
func variableOfPath(path string) string {
	switch path {
	case "admin.password":
		path = "admin.username"
	case "admin.stats_password":
		path = "admin.stats_username"
	}
	for _, v := range variables {
		if v.path == path {
			return v.name
		}
	}
	return ""
}

// checkVariable reports whether value is valid for the variable name; it
// backs the CHECK constraint of the MEMORY global_variables table.
func checkVariable(name, value string) error {
	v, ok := lookupVariable(name)
	if !ok {
		return fmt.Errorf("unknown variable %q (SELECT variable_name FROM global_variables lists them)", name)
	}
	if v.name != name {
		return fmt.Errorf("variable %q is spelled %q", name, v.name)
	}
	return v.set(config.Defaults(), value)
}

// isSecretVariable reports whether a variable's value must not be logged.
func isSecretVariable(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "password") || strings.Contains(n, "credentials")
}
