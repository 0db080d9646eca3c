package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// minimalYAML is the smallest valid file: everything else is defaulted.
const minimalYAML = `
users:
  - { username: app, password: app, default_hostgroup: 10 }
servers:
  - { hostgroup: 10, host: 127.0.0.1, port: 3316 }
  - { hostgroup: 20, host: 127.0.0.1, port: 3317, weight: 0 }
replication_hostgroups:
  - { writer_hostgroup: 10, reader_hostgroup: 20 }
query_rules:
  - { rule_id: 1, match_digest: '^SELECT', destination_hostgroup: 20 }
  - { rule_id: 2, match_digest: '^SHOW', active: false }
`

// writeConfig writes content to a temporary file and returns its path.
func writeConfig(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// clearEnv hides RWPROXY_* variables of the surrounding environment (viper
// ignores empty variables).
func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, EnvPrefix+"_") {
			t.Setenv(k, "")
		}
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		file    string // defaults to x.yaml
		yaml    string
		env     map[string]string
		check   func(t *testing.T, c *Config)
		wantErr []string // lines of the error after the header; empty = success
	}{
		{
			name: "minimal file gets defaults",
			yaml: minimalYAML,
			check: func(t *testing.T, c *Config) {
				want := validConfig(t)
				require.Equal(t, want.Listen, c.Listen)
				require.Equal(t, want.Pool, c.Pool)
				require.Equal(t, want.Cluster.Bind, c.Cluster.Bind)
				require.Equal(t, Server{Hostgroup: 10, Host: "127.0.0.1", Port: 3316, Weight: 1, Status: StatusOnline, MaxConnections: 1000}, c.Servers[0])
				require.Equal(t, 0, c.Servers[1].Weight, "an explicit weight 0 is kept")
				require.Equal(t, CheckReadOnly, c.ReplicationHostgroups[0].CheckType)
				require.True(t, c.QueryRules[0].Active, "active defaults to true")
				require.False(t, c.QueryRules[1].Active)
				require.True(t, c.Users[0].IsActive())
				require.Equal(t, ConsistencyReadYourWrites, c.Users[0].Consistency)
				require.Equal(t, ScopeUser, c.Users[0].ConsistencyScope)
				require.Equal(t, time.Second, c.Users[0].ReadYourWritesTimeout)
				require.Equal(t, ReaderFallbackWriter, c.ReaderFallback)
				require.Nil(t, c.HostgroupAttributes)
			},
		},
		{
			name: "read/write splitting keys",
			yaml: "reader_fallback: error\n" +
				"hostgroup_attributes:\n  - { hostgroup_id: 20, affinity: session }\n  - { hostgroup_id: 10, balance: least_outstanding }\n" +
				strings.Replace(minimalYAML, "default_hostgroup: 10 }",
					"default_hostgroup: 10 }\n  - { username: rw, password: rw-pw, default_hostgroup: 10, consistency: eventual, consistency_scope: session, read_your_writes_timeout: 250ms }", 1),
			check: func(t *testing.T, c *Config) {
				require.Equal(t, ReaderFallbackError, c.ReaderFallback)
				require.Equal(t, []HostgroupAttributes{
					{HostgroupID: 20, Balance: BalanceWeightedRoundRobin, Affinity: AffinitySession},
					{HostgroupID: 10, Balance: BalanceLeastOutstanding, Affinity: AffinityStatement},
				}, c.HostgroupAttributes)
				require.Equal(t, ConsistencyReadYourWrites, c.Users[0].Consistency)
				require.Equal(t, DefaultReadYourWritesTimeout, c.Users[0].ReadYourWritesTimeout)
				require.Equal(t, ConsistencyEventual, c.Users[1].Consistency)
				require.Equal(t, ScopeSession, c.Users[1].ConsistencyScope)
				require.Equal(t, 250*time.Millisecond, c.Users[1].ReadYourWritesTimeout)
			},
		},
		{
			name: "reader_fallback from the environment",
			yaml: "reader_fallback: writer\n" + minimalYAML,
			env:  map[string]string{"RWPROXY_READER_FALLBACK": "error"},
			check: func(t *testing.T, c *Config) {
				require.Equal(t, ReaderFallbackError, c.ReaderFallback)
			},
		},
		{
			name: "reader_fallback from the environment when absent from the file",
			yaml: minimalYAML,
			env:  map[string]string{"RWPROXY_READER_FALLBACK": "error"},
			check: func(t *testing.T, c *Config) {
				require.Equal(t, ReaderFallbackError, c.ReaderFallback)
			},
		},
		{
			name: "read/write splitting problems",
			yaml: "reader_fallback: replica\n" +
				"hostgroup_attributes:\n  - { balance: least_outstanding }\n  - { hostgroup_id: 30, balance: random }\n" +
				strings.Replace(minimalYAML, "default_hostgroup: 10 }",
					"default_hostgroup: 10, consistency: strong, read_your_writes_timeout: 2m }", 1),
			env: map[string]string{"RWPROXY_READER_FALLBACK": ""},
			wantErr: []string{
				"hostgroup_attributes[0].hostgroup_id: is required",
				`reader_fallback: "replica" is not one of writer, error`,
				`users[0].consistency: "strong" is not one of eventual, read_your_writes`,
				"users[0].read_your_writes_timeout: 2m0s must be <= 1m0s",
				"hostgroup_attributes[1].hostgroup_id: hostgroup 30 has no servers",
				`hostgroup_attributes[1].balance: "random" is not one of weighted_round_robin, least_outstanding, adaptive`,
			},
		},
		{
			name: "read_your_writes_timeout needs a unit",
			yaml: strings.Replace(minimalYAML, "default_hostgroup: 10 }",
				"default_hostgroup: 10, read_your_writes_timeout: 5 }", 1),
			wantErr: []string{
				"users[0].read_your_writes_timeout: 5 has no unit: write a duration such as 5s or 5ms",
			},
		},
		{
			name: "bad reader_fallback from the environment names the variable",
			yaml: minimalYAML,
			env:  map[string]string{"RWPROXY_READER_FALLBACK": "none"},
			wantErr: []string{
				`reader_fallback: "none" is not one of writer, error (set by RWPROXY_READER_FALLBACK)`,
			},
		},
		{
			name: "any extension is read as YAML",
			file: "rwproxy.conf",
			yaml: minimalYAML,
			check: func(t *testing.T, c *Config) {
				require.Len(t, c.Servers, 2)
			},
		},
		{
			name: "environment overrides file and absent keys",
			yaml: "listen: 127.0.0.1:6000\nmax_connections: 5\n" + minimalYAML,
			env: map[string]string{
				"RWPROXY_LISTEN":            "127.0.0.1:7000",
				"RWPROXY_MAX_CONNECTIONS":   "10",
				"RWPROXY_ADMIN_PASSWORD":    "x",
				"RWPROXY_POOL_IDLE_TIMEOUT": "2m",
				"RWPROXY_LOG_LEVEL":         "debug",
				"RWPROXY_CLUSTER_JOIN":      "10.0.0.1:7946,10.0.0.2:7946",
				"RWPROXY_CLUSTER_ENABLED":   "true",
			},
			check: func(t *testing.T, c *Config) {
				require.Equal(t, "127.0.0.1:7000", c.Listen)
				require.Equal(t, 10, c.MaxConnections)
				require.Equal(t, "x", c.Admin.Password)
				require.Equal(t, "admin", c.Admin.Username)
				require.Equal(t, 2*time.Minute, c.Pool.IdleTimeout)
				require.Equal(t, "debug", c.Log.Level)
				require.Equal(t, []string{"10.0.0.1:7946", "10.0.0.2:7946"}, c.Cluster.Join)
				require.True(t, c.Cluster.Enabled)
			},
		},
		{
			name: "unknown keys are named",
			yaml: "max_conections: 10\nadmin: { pasword: x }\n" +
				strings.Replace(minimalYAML, "port: 3316 }", "port: 3316, wieght: 2 }", 1),
			wantErr: []string{
				"admin.pasword: unknown key (misspelled? see docs/configuration.md)",
				"servers[0].wieght: unknown key (misspelled? see docs/configuration.md)",
				"max_conections: unknown key (misspelled? see docs/configuration.md)",
			},
		},
		{
			name: "durations need a unit",
			yaml: "monitor: { interval: 1 }\npool: { idle_timeout: 5 parsecs, ping_after: 0 }\n" + minimalYAML,
			wantErr: []string{
				"monitor.interval: 1 has no unit: write a duration such as 1s or 1ms",
				`pool.idle_timeout: "5 parsecs" is not a duration such as 500ms, 1s, 5m or 1h`,
			},
		},
		{
			name: "type errors are not reported twice",
			yaml: strings.Replace(minimalYAML, "port: 3316", "port: abc", 1),
			wantErr: []string{
				`servers[0].port: "abc" is not a valid int`,
			},
		},
		{
			name: "a section of the wrong type is reported once",
			yaml: "pool: 5\n" + minimalYAML,
			wantErr: []string{
				`pool: expected a map or struct, got "int"`,
			},
		},
		{
			name: "secrets are not echoed",
			yaml: "admin: { password: [hunter2] }\n" + minimalYAML,
			wantErr: []string{
				"admin.password: expected string",
			},
		},
		{
			name: "bad environment value names the variable",
			yaml: minimalYAML,
			env:  map[string]string{"RWPROXY_MAX_CONNECTIONS": "lots", "RWPROXY_LOG_FORMAT": "xml"},
			wantErr: []string{
				`max_connections: "lots" is not a valid int (set by RWPROXY_MAX_CONNECTIONS)`,
				`log.format: "xml" is not one of auto, console, json (set by RWPROXY_LOG_FORMAT)`,
			},
		},
		{
			name: "decode and validation problems together",
			yaml: "max_conections: 1\nlog: { level: loud }\n" +
				strings.Replace(minimalYAML, "port: 3317", "port: 70000", 1),
			wantErr: []string{ // decoding problems first, then validation
				"max_conections: unknown key (misspelled? see docs/configuration.md)",
				`log.level: "loud" is not one of debug, info, warn, error`,
				"servers[1].port: 70000 is not a valid port (1-65535)",
			},
		},
		{
			name: "hostgroups must be written out",
			yaml: `
users: [ { username: app, password: x } ]
servers: [ { hostgroup: 0, host: h, port: 1 } ]
replication_hostgroups: [ { reader_hostgroup: 20 } ]
`,
			wantErr: []string{
				"users[0].default_hostgroup: is required",
				"replication_hostgroups[0].writer_hostgroup: is required",
			},
		},
		{
			name:    "empty file",
			yaml:    "",
			wantErr: []string{"users: at least one user is required"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			name := tc.file
			if name == "" {
				name = "x.yaml"
			}
			path := writeConfig(t, name, tc.yaml)
			c, err := Load(path)
			if len(tc.wantErr) == 0 {
				require.NoError(t, err)
				tc.check(t, c)
				return
			}
			require.Nil(t, c)
			require.ErrorIs(t, err, ErrInvalid)
			lines := strings.Split(err.Error(), "\n")
			require.Equal(t, "config "+path+" is invalid:", lines[0])
			require.Equal(t, tc.wantErr, lines[1:])
		})
	}
}

func TestLoadUnreadable(t *testing.T) {
	tests := []struct {
		name string
		path func(t *testing.T) string
	}{
		{"missing file", func(t *testing.T) string { return filepath.Join(t.TempDir(), "none.yaml") }},
		{"not YAML", func(t *testing.T) string { return writeConfig(t, "x.yaml", "listen: [unclosed\n") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path(t)
			_, err := Load(path)
			require.Error(t, err)
			require.NotErrorIs(t, err, ErrInvalid)
			require.Contains(t, err.Error(), path)
		})
	}
}

// TestExampleConfigs loads and validates every example shipped in configs/
// and the benchmark's extra proxies in sysbench/.
func TestExampleConfigs(t *testing.T) {
	clearEnv(t)
	paths, err := filepath.Glob("../configs/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	bench, err := filepath.Glob("../sysbench/*.yaml")
	require.NoError(t, err)
	require.Len(t, bench, 2, "sysbench/rwproxy-primary-reads.yaml and rwproxy-session-affinity.yaml")
	paths = append(paths, bench...)
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			c, err := Load(p)
			require.NoError(t, err)
			require.NoError(t, c.Validate())
		})
	}
}

// TestDocumentedExample: configs/rwproxy.yaml shows every default and the
// reference topology; its comments claim so.
func TestDocumentedExample(t *testing.T) {
	clearEnv(t)
	c, err := Load("../configs/rwproxy.yaml")
	require.NoError(t, err)

	want := validConfig(t)
	want.Servers[0].MaxConnections = 200
	want.Users[0].Active = nil
	want.Users[0].Consistency = ConsistencyReadYourWrites
	require.Equal(t, want, c)
}

func TestEnvVar(t *testing.T) {
	require.Equal(t, "RWPROXY_POOL_MAX_IDLE", EnvVar("pool.max_idle"))
	require.Equal(t, "RWPROXY_LISTEN", EnvVar("listen"))
}
