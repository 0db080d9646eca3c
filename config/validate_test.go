package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []string // each must appear as a line of the error; none = valid
	}{
		{name: "valid", mutate: func(*Config) {}},
		{name: "listen on all interfaces, any port", mutate: func(c *Config) { c.Listen = ":0"; c.Admin.Listen = ":0"; c.Admin.Password = "s3cret" }},
		{name: "listen without port",
			mutate: func(c *Config) { c.Listen = "127.0.0.1" },
			want:   []string{`listen: "127.0.0.1": not a host:port address (missing port in address)`}},
		{name: "listen port out of range",
			mutate: func(c *Config) { c.Listen = "127.0.0.1:70000" },
			want:   []string{`listen: "127.0.0.1:70000": port "70000" is not a valid port (0-65535)`}},
		{name: "admin listen clashes",
			mutate: func(c *Config) { c.Admin.Listen = c.Listen },
			want:   []string{`admin.listen: "127.0.0.1:6033" is already used by listen`}},
		{name: "http listen clashes",
			mutate: func(c *Config) { c.HTTP.Listen = c.Admin.Listen },
			want:   []string{`http.listen: "127.0.0.1:6032" is already used by admin.listen`}},
		{name: "http listen without port",
			mutate: func(c *Config) { c.HTTP.Listen = "localhost" },
			want:   []string{`http.listen: "localhost": not a host:port address (missing port in address)`}},
		{name: "empty http listen turns it off", mutate: func(c *Config) { c.HTTP.Listen = "" }},
		{name: "slow query threshold",
			mutate: func(c *Config) { c.Log.SlowQueryThreshold = -time.Millisecond },
			want:   []string{"log.slow_query_threshold: -1ms must be >= 0 (0 turns the slow query log off)"}},
		{name: "max_connections zero",
			mutate: func(c *Config) { c.MaxConnections = 0 },
			want:   []string{"max_connections: 0 must be > 0"}},
		{name: "threads",
			mutate: func(c *Config) { c.Threads = -1 },
			want:   []string{"threads: -1 must be between 0 (by the load, up to the CPUs the process may use) and 1024"}},
		{name: "one thread", mutate: func(c *Config) { c.Threads = 1 }},
		{name: "empty server_version means probe a backend", mutate: func(c *Config) { c.ServerVersion = "" }},
		{name: "auth plugins",
			mutate: func(c *Config) {
				c.Users[0].AuthPlugin = AuthCachingSha2
				u := user("b")
				u.AuthPlugin = "sha256_password"
				c.Users = append(c.Users, u)
			},
			want: []string{`users[1].auth_plugin: "sha256_password" is not one of mysql_native_password, caching_sha2_password`}},
		{name: "durations",
			mutate: func(c *Config) {
				c.ShutdownTimeout = 0
				c.Monitor.Interval = -time.Second
				c.Pool.PingAfter = -1
			},
			want: []string{
				"shutdown_timeout: 0s must be > 0 (write it with a unit, e.g. 1s)",
				"monitor.interval: -1s must be > 0 (write it with a unit, e.g. 1s)",
				"pool.ping_after: -1ns must be >= 0",
			}},
		{name: "ping_after zero is allowed", mutate: func(c *Config) { c.Pool.PingAfter = 0 }},
		{name: "pool idle bounds",
			mutate: func(c *Config) { c.Pool.MinIdle = 10; c.Pool.MaxIdle = 5 },
			want:   []string{"pool.min_idle: 10 must not exceed pool.max_idle (5)"}},
		{name: "log",
			mutate: func(c *Config) { c.Log.Level = "verbose"; c.Log.Format = "xml" },
			want: []string{
				`log.level: "verbose" is not one of debug, info, warn, error`,
				`log.format: "xml" is not one of auto, console, json`,
			}},
		{name: "admin and monitor names",
			mutate: func(c *Config) { c.Admin.Username = ""; c.Admin.Datadir = ""; c.Monitor.Username = "" },
			want:   []string{"admin.username: must not be empty", "admin.datadir: must not be empty", "monitor.username: must not be empty"}},
		{name: "no users",
			mutate: func(c *Config) { c.Users = nil },
			want:   []string{"users: at least one user is required"}},
		{name: "user names",
			mutate: func(c *Config) {
				c.Users = append(c.Users, user("app"), user(""))
			},
			want: []string{`users[1].username: "app" is a duplicate of users[0]`, "users[2].username: must not be empty"}},
		{name: "default_hostgroup missing or empty",
			mutate: func(c *Config) {
				c.Users[0].DefaultHostgroup = 0
				u := user("b")
				u.DefaultHostgroup = 99
				c.Users = append(c.Users, u)
			},
			want: []string{
				"users[0].default_hostgroup: hostgroup 0 has no servers",
				"users[1].default_hostgroup: hostgroup 99 has no servers",
			}},
		{name: "hostgroup 0 with servers is fine",
			mutate: func(c *Config) {
				c.Servers[0].Hostgroup = 0
				c.Users[0].DefaultHostgroup = 0
				c.ReplicationHostgroups = nil
			}},
		{name: "server fields",
			mutate: func(c *Config) {
				c.Servers[2] = Server{Hostgroup: -1, Host: "", Port: 70000, Weight: -1, Status: "UP", MaxConnections: 0, MaxReplicationLag: -2}
			},
			want: []string{
				"servers[2].hostgroup: -1 must be >= 0",
				"servers[2].host: must not be empty",
				"servers[2].port: 70000 is not a valid port (1-65535)",
				"servers[2].weight: -1 must be >= 0",
				`servers[2].status: "UP" is not one of ONLINE, OFFLINE_SOFT, OFFLINE_HARD`,
				"servers[2].max_connections: 0 must be > 0",
				"servers[2].max_replication_lag: -2 must be >= 0 (0 disables the check)",
			}},
		{name: "weight zero drains", mutate: func(c *Config) { c.Servers[1].Weight = 0 }},
		{name: "duplicate server",
			mutate: func(c *Config) { c.Servers = append(c.Servers, c.Servers[1]) },
			want:   []string{"servers[3]: duplicate of servers[1] (hostgroup 20, 127.0.0.1:3317)"}},
		{name: "same server in two hostgroups is fine",
			mutate: func(c *Config) { s := c.Servers[0]; s.Hostgroup = 20; c.Servers = append(c.Servers, s) }},
		{name: "replication writer equals reader",
			mutate: func(c *Config) { c.ReplicationHostgroups[0].ReaderHostgroup = 10 },
			want:   []string{"replication_hostgroups[0]: writer_hostgroup and reader_hostgroup are both 10"}},
		{name: "replication negative and check_type",
			mutate: func(c *Config) {
				c.ReplicationHostgroups[0] = ReplicationHostgroup{WriterHostgroup: -1, ReaderHostgroup: 20, CheckType: "gtid"}
			},
			want: []string{
				"replication_hostgroups[0].writer_hostgroup: -1 must be >= 0",
				`replication_hostgroups[0].check_type: "gtid" is not one of read_only, super_read_only, innodb_read_only, read_only|innodb_read_only, read_only&innodb_read_only`,
			}},
		{name: "hostgroup in two pairs",
			mutate: func(c *Config) {
				c.ReplicationHostgroups = append(c.ReplicationHostgroups,
					ReplicationHostgroup{WriterHostgroup: 30, ReaderHostgroup: 20, CheckType: CheckSuperReadOnly})
			},
			want: []string{"replication_hostgroups[1].reader_hostgroup: hostgroup 20 is already used by replication_hostgroups[0]"}},
		{name: "query rules",
			mutate: func(c *Config) {
				c.QueryRules = []QueryRule{
					{RuleID: 1, MatchDigest: "^SELECT", DestinationHostgroup: ptr(20)},
					{RuleID: 1, MatchPattern: "(unclosed"},
					{RuleID: 0, MatchDigest: `\`, DestinationHostgroup: ptr(99)},
				}
			},
			want: []string{
				"query_rules[1].rule_id: 1 is a duplicate of query_rules[0]",
				"query_rules[1].match_pattern: \"(unclosed\" is not a valid regular expression: error parsing regexp: missing closing ): `(unclosed`",
				"query_rules[2].rule_id: 0 must be > 0",
				"query_rules[2].match_digest: \"\\\\\" is not a valid regular expression: error parsing regexp: trailing backslash at end of expression: ``",
				"query_rules[2].destination_hostgroup: 99 is not a known hostgroup (none of servers or replication_hostgroups names it)",
			}},
		{name: "query timeouts",
			mutate: func(c *Config) {
				c.QueryTimeout = 10 * time.Second
				c.Users[0].QueryTimeout = 500 * time.Millisecond
				c.QueryRules = []QueryRule{{RuleID: 1, MatchDigest: "^SELECT", Timeout: 2 * time.Second}}
			}},
		{name: "query timeout problems",
			mutate: func(c *Config) {
				c.QueryTimeout = -time.Second
				c.Users[0].QueryTimeout = 1500 * time.Microsecond
				c.QueryRules = []QueryRule{{RuleID: 1, Timeout: -time.Millisecond}}
			},
			want: []string{
				"query_timeout: -1s must be >= 0 (0 = no timeout)",
				"users[0].query_timeout: 1.5ms must be a whole number of milliseconds",
				"query_rules[0].timeout: -1ms must be >= 0 (0 = no timeout)",
			}},
		{name: "rule may target an empty paired hostgroup",
			mutate: func(c *Config) {
				c.ReplicationHostgroups[0].ReaderHostgroup = 30
				c.QueryRules = []QueryRule{{RuleID: 7, DestinationHostgroup: ptr(30)}}
			}},
		{name: "cluster",
			mutate: func(c *Config) {
				c.Cluster = Cluster{Enabled: true, Bind: "nope", Join: []string{"10.0.0.1:7946", ":7946", "h:0"}, Secret: "short"}
			},
			want: []string{
				`cluster.bind: "nope": not a host:port address (missing port in address)`,
				`cluster.join[1]: ":7946": host must not be empty`,
				`cluster.join[2]: "h:0": port "0" is not a valid port (1-65535)`,
				"cluster.secret: must be at least 16 bytes long (a passphrase; the AES-256 key is derived from it), got 5",
			}},
		{name: "cluster identity and intervals",
			mutate: func(c *Config) {
				c.Cluster = Cluster{Enabled: true, Bind: "localhost:7946", NodeName: strings.Repeat("n", 129),
					Advertise: "gossip.example:7946", GossipInterval: -1, PushPullInterval: -time.Second,
					Secret: "a passphrase of any length past sixteen bytes"}
			},
			want: []string{
				`cluster.bind: "localhost:7946": host must be an IP address (or empty for all interfaces)`,
				"cluster.node_name: is 129 bytes long, at most 128 allowed",
				`cluster.advertise: "gossip.example:7946": host must be an IP address`,
				"cluster.gossip_interval: -1ns must be >= 0 (0 = the default)",
				"cluster.push_pull_interval: -1s must be >= 0 (0 = the default)",
			}},
		{name: "cluster advertise and zero intervals",
			mutate: func(c *Config) {
				c.Cluster = Cluster{Enabled: true, Bind: ":7946", Advertise: "10.0.0.5:7946", Secret: "0123456789abcdef"}
			}},
		{name: "disabled cluster may have no bind", mutate: func(c *Config) { c.Cluster.Bind = "" }},
		{name: "cluster without secret on every interface",
			mutate: func(c *Config) { c.Cluster = Cluster{Enabled: true, Bind: ":7946"} },
			want:   []string{`cluster.secret: is required when cluster.bind (":7946") is not a loopback address: without it any host that reaches the gossip port reads and changes the shared configuration`}},
		{name: "cluster without secret on a private address",
			mutate: func(c *Config) { c.Cluster = Cluster{Enabled: true, Bind: "10.0.0.5:7946"} },
			want:   []string{`cluster.secret: is required when cluster.bind ("10.0.0.5:7946") is not a loopback address: without it any host that reaches the gossip port reads and changes the shared configuration`}},
		{name: "cluster without secret on loopback", mutate: func(c *Config) { c.Cluster = Cluster{Enabled: true, Bind: "127.0.0.1:7946"} }},
		{name: "empty app password",
			mutate: func(c *Config) { c.Users[0].Password = "" },
			want:   []string{`users[0].password: is empty: anyone who knows the user name "app" would log in; set a password, or allow_empty_password: true for an account meant to have none`}},
		{name: "empty app password allowed", mutate: func(c *Config) { c.Users[0].Password, c.Users[0].AllowEmptyPassword = "", true }},
		{name: "read-only admin account",
			mutate: func(c *Config) {
				c.Admin.Listen, c.Admin.Password = "0.0.0.0:6032", "a-real-password"
				c.Admin.StatsUsername, c.Admin.StatsPassword = "admin", "stats"
				c.Admin.TLSCert = "/etc/cert.pem"
			},
			want: []string{
				`admin.tls_cert: admin.tls_cert and admin.tls_key must be set together (got cert "/etc/cert.pem", key "")`,
				`admin.stats_username: "admin" is also admin.username: the read-only account needs its own name`,
				`admin.stats_password: the default or an empty password is refused on a non-loopback admin.listen ("0.0.0.0:6032")`,
			}},
		{name: "read-only admin account on loopback", mutate: func(c *Config) { c.Admin.StatsUsername = "stats" }},
		{name: "join without enabled",
			mutate: func(c *Config) { c.Cluster.Join = []string{"10.0.0.1:7946"} },
			want:   []string{"cluster.join: lists 1 peer(s) but cluster.enabled is false: set cluster.enabled: true to join them, or empty the list"}},
		{name: "reader_fallback error", mutate: func(c *Config) { c.ReaderFallback = ReaderFallbackError }},
		{name: "reader_fallback unknown or empty",
			mutate: func(c *Config) { c.ReaderFallback = "reader" },
			want:   []string{`reader_fallback: "reader" is not one of writer, error`}},
		{name: "reader_fallback empty is not defaulted by Validate",
			mutate: func(c *Config) { c.ReaderFallback = "" },
			want:   []string{`reader_fallback: "" is not one of writer, error`}},
		{name: "read_your_writes user, timeout at the bounds",
			mutate: func(c *Config) {
				c.Users[0].Consistency = ConsistencyReadYourWrites
				c.Users[0].ReadYourWritesTimeout = MaxReadYourWritesTimeout
				u := user("b")
				u.Consistency = ConsistencyReadYourWrites
				u.ReadYourWritesTimeout = time.Millisecond
				c.Users = append(c.Users, u)
			}},
		{name: "consistency",
			mutate: func(c *Config) {
				c.Users[0].Consistency = "strong"
				u := user("b")
				u.Consistency = ""
				c.Users = append(c.Users, u)
			},
			want: []string{
				`users[0].consistency: "strong" is not one of eventual, read_your_writes`,
				`users[1].consistency: "" is not one of eventual, read_your_writes`,
			}},
		{name: "read_your_writes_timeout",
			mutate: func(c *Config) {
				c.Users[0].ReadYourWritesTimeout = 0
				u := user("b")
				u.ReadYourWritesTimeout = -time.Second
				v := user("c")
				v.Consistency = ConsistencyReadYourWrites
				v.ReadYourWritesTimeout = time.Minute + time.Millisecond
				c.Users = append(c.Users, u, v)
			},
			want: []string{
				"users[0].read_your_writes_timeout: 0s must be > 0 (write it with a unit, e.g. 1s)",
				"users[1].read_your_writes_timeout: -1s must be > 0 (write it with a unit, e.g. 1s)",
				"users[2].read_your_writes_timeout: 1m0.001s must be <= 1m0s",
			}},
		{name: "hostgroup attributes",
			mutate: func(c *Config) {
				c.HostgroupAttributes = []HostgroupAttributes{
					{HostgroupID: 10, Balance: BalanceLeastOutstanding},
					{HostgroupID: 20, Balance: BalanceWeightedRoundRobin},
				}
			}},
		{name: "adaptive balance",
			mutate: func(c *Config) {
				c.HostgroupAttributes = []HostgroupAttributes{{HostgroupID: 20, Balance: BalanceAdaptive}}
			}},
		{name: "hostgroup attributes problems",
			mutate: func(c *Config) {
				c.HostgroupAttributes = []HostgroupAttributes{
					{HostgroupID: 20, Balance: BalanceLeastOutstanding},
					{HostgroupID: 20, Balance: BalanceWeightedRoundRobin},
					{HostgroupID: 99, Balance: "random", Affinity: "sticky"},
					{HostgroupID: -1, Balance: ""},
				}
			},
			want: []string{
				"hostgroup_attributes[1].hostgroup_id: hostgroup 20 is a duplicate of hostgroup_attributes[0]",
				"hostgroup_attributes[2].hostgroup_id: hostgroup 99 has no servers",
				`hostgroup_attributes[2].balance: "random" is not one of weighted_round_robin, least_outstanding, adaptive`,
				`hostgroup_attributes[2].affinity: "sticky" is not one of statement, session`,
				"hostgroup_attributes[3].hostgroup_id: hostgroup -1 has no servers",
				`hostgroup_attributes[3].balance: "" is not one of weighted_round_robin, least_outstanding, adaptive`,
			}},
		{name: "attributes of an empty paired hostgroup are rejected",
			mutate: func(c *Config) {
				c.ReplicationHostgroups[0].ReaderHostgroup = 30
				c.HostgroupAttributes = []HostgroupAttributes{{HostgroupID: 30, Balance: DefaultBalance}}
			},
			want: []string{"hostgroup_attributes[0].hostgroup_id: hostgroup 30 has no servers"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig(t)
			tc.mutate(c)
			err := c.Validate()
			if len(tc.want) == 0 {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalid)
			lines := strings.Split(err.Error(), "\n")
			for _, w := range tc.want {
				require.Contains(t, lines, w)
			}
			require.Len(t, lines, len(tc.want), "unexpected extra problems:\n%v", err)
		})
	}
}

// TestValidateReportsEverything: one call lists every problem, each as a
// FieldError with its path.
func TestValidateReportsEverything(t *testing.T) {
	c := validConfig(t)
	c.Listen = "bad"
	c.Servers[0].Port = 0
	c.Log.Level = ""
	c.QueryRules = []QueryRule{{RuleID: -1}}
	c.ReaderFallback = "nope"
	c.Users[0].Consistency = "nope"
	c.HostgroupAttributes = []HostgroupAttributes{{HostgroupID: 20, Balance: "nope"}}
	errs := unjoin(c.Validate())
	var paths []string
	for _, e := range errs {
		var fe *FieldError
		require.True(t, errors.As(e, &fe))
		paths = append(paths, fe.Path)
	}
	require.Equal(t, []string{"listen", "reader_fallback", "log.level", "servers[0].port",
		"users[0].consistency", "query_rules[0].rule_id", "hostgroup_attributes[0].balance"}, paths)
}

func TestValidateNil(t *testing.T) {
	var c *Config
	require.ErrorIs(t, c.Validate(), ErrInvalid)
}

// TestLoadQueryTimeouts reads the three statement timeouts from a file and
// the environment; a bare number is not a duration.
func TestLoadQueryTimeouts(t *testing.T) {
	clearEnv(t)
	yaml := `
query_timeout: 10s
users:
  - { username: app, password: app, default_hostgroup: 10, query_timeout: 500ms }
  - { username: b, password: b, default_hostgroup: 10 }
servers:
  - { hostgroup: 10, host: 127.0.0.1, port: 3316 }
query_rules:
  - { rule_id: 1, match_digest: '^SELECT', timeout: 2s }
  - { rule_id: 2, match_digest: '^SHOW' }
`
	c, err := Load(writeConfig(t, "x.yaml", yaml))
	require.NoError(t, err)
	require.Equal(t, 10*time.Second, c.QueryTimeout)
	require.Equal(t, 500*time.Millisecond, c.Users[0].QueryTimeout)
	require.Zero(t, c.Users[1].QueryTimeout)
	require.Equal(t, 2*time.Second, c.QueryRules[0].Timeout)
	require.Zero(t, c.QueryRules[1].Timeout)

	t.Setenv("RWPROXY_QUERY_TIMEOUT", "1m")
	c, err = Load(writeConfig(t, "x.yaml", yaml))
	require.NoError(t, err)
	require.Equal(t, time.Minute, c.QueryTimeout)

	path := writeConfig(t, "y.yaml", strings.Replace(yaml, "timeout: 2s", "timeout: 2000", 1))
	_, err = Load(path)
	require.ErrorIs(t, err, ErrInvalid)
	require.Contains(t, err.Error(), "query_rules[0].timeout")
}

func TestValidateTransactionReplay(t *testing.T) {
	c := validConfig(t)
	require.True(t, c.ReplayEnabled())
	c.TransactionReplay = "off"
	require.False(t, c.ReplayEnabled())
	c.TransactionReplay = "maybe"
	c.TransactionReplayMaxSize = 0
	c.TransactionReplayAttempts = 0
	c.TransactionReplayTimeout = 0
	err := c.Validate()
	require.Error(t, err)
	for _, k := range []string{"transaction_replay:", "transaction_replay_max_size", "transaction_replay_attempts", "transaction_replay_timeout"} {
		require.Contains(t, err.Error(), k)
	}
	// An admin database or a Config of an earlier version has none of
	// them: FillDefaults gives the defaults.
	c = validConfig(t)
	c.TransactionReplay, c.TransactionReplayMaxSize, c.TransactionReplayAttempts, c.TransactionReplayTimeout = "", 0, 0, 0
	c.FillDefaults()
	require.Equal(t, Defaults().TransactionReplayMaxSize, c.TransactionReplayMaxSize)
	require.NoError(t, c.Validate())
}
