package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// nativeHashOfApp is "*" + hex(SHA1(SHA1("app"))), MySQL 5.7's PASSWORD('app').
const nativeHashOfApp = "*5BCB3E6AC345B435C7C2E6B7949A04CE6F6563D3"

func TestValidateSecurity(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []string
	}{
		{name: "TLS on the listener, a TLS-only user, a hashed password, TLS backends",
			mutate: func(c *Config) {
				c.TLS = TLS{Cert: "/etc/rwproxy/cert.pem", Key: "/etc/rwproxy/key.pem", BackendCA: "/etc/rwproxy/ca.pem",
					BackendVerifyHostname: true}
				c.Users[0].RequireTLS = true
				c.Users[0].Password = nativeHashOfApp
				c.Users[0].BackendPassword = "app"
				for i := range c.Servers {
					c.Servers[i].UseTLS = true
				}
			}},
		{name: "skip verify without a CA", mutate: func(c *Config) { c.TLS.BackendInsecureSkipVerify = true }},
		{name: "a backend password that differs from the client one",
			mutate: func(c *Config) { c.Users[0].BackendPassword = "other" }},
		{name: "login limit off, query length set",
			mutate: func(c *Config) { c.Limits.LoginRate = 0; c.Limits.LoginBurst = 0; c.Limits.MaxQueryLength = 4096 }},
		{name: "admin on all interfaces with a real password",
			mutate: func(c *Config) { c.Admin.Listen = "0.0.0.0:6032"; c.Admin.Password = "n0t-the-default" }},
		{name: "admin on localhost with the default password", mutate: func(c *Config) { c.Admin.Listen = "localhost:6032" }},
		{name: "admin on ::1 with the default password", mutate: func(c *Config) { c.Admin.Listen = "[::1]:6032" }},
		{name: "admin default password on all interfaces",
			mutate: func(c *Config) { c.Admin.Listen = ":6032" },
			want:   []string{`admin.password: the default or an empty password is refused on a non-loopback admin.listen (":6032"): set a password or listen on 127.0.0.1`}},
		{name: "admin empty password on a private address",
			mutate: func(c *Config) { c.Admin.Listen = "10.1.2.3:6032"; c.Admin.Password = "" },
			want:   []string{`admin.password: the default or an empty password is refused on a non-loopback admin.listen ("10.1.2.3:6032"): set a password or listen on 127.0.0.1`}},
		{name: "TLS problems",
			mutate: func(c *Config) {
				c.TLS = TLS{Cert: "cert.pem", BackendCA: "ca.pem", BackendInsecureSkipVerify: true}
				c.Users[0].RequireTLS = true
				c.Users[0].Password = strings.ToLower(nativeHashOfApp)
				c.Servers = append(c.Servers, Server{Hostgroup: 30, Host: "127.0.0.1", Port: 3316, Weight: 1,
					Status: StatusOnline, MaxConnections: 10, UseTLS: true})
			},
			want: []string{
				`tls.cert: tls.cert and tls.key must be set together (got cert "cert.pem", key "")`,
				`tls.backend_insecure_skip_verify: contradicts tls.backend_ca ("ca.pem"): verify with the CA or skip verification, not both`,
				"users[0].require_tls: needs tls.cert and tls.key: without TLS on the listener this user could never log in",
				"users[0].backend_password: is required: password is a mysql_native_password hash, and rwproxy needs the plain text to log into the backends",
				"servers[3].use_tls: true differs from servers[0] (127.0.0.1:3316): one address has one connection setting",
			}},
		{name: "hashed backend password",
			mutate: func(c *Config) { c.Users[0].BackendPassword = nativeHashOfApp },
			want:   []string{"users[0].backend_password: must be the plain-text password (a hash cannot log into a backend)"}},
		{name: "limit problems",
			mutate: func(c *Config) {
				c.Limits = Limits{MaxAllowedPacket: 100, MaxQueryLength: -1, MaxPreparedStatements: 0, LoginRate: 5}
			},
			want: []string{
				"limits.max_allowed_packet: 100 is not in 1024..1073741824 bytes",
				"limits.max_query_length: -1 must be >= 0 (0 = limits.max_allowed_packet)",
				"limits.max_prepared_statements: 0 must be >= 1",
				"limits.login_burst: 0 must be >= 1 when limits.login_rate is set",
			}},
		{name: "negative login rate and too large packets",
			mutate: func(c *Config) { c.Limits.LoginRate = -1; c.Limits.MaxAllowedPacket = 2 << 30 },
			want: []string{
				"limits.max_allowed_packet: 2147483648 is not in 1024..1073741824 bytes",
				"limits.login_rate: -1 must be >= 0 (0 turns the limit off)",
			}},
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

func TestSecurityHelpers(t *testing.T) {
	require.True(t, IsNativeHash(nativeHashOfApp))
	require.True(t, IsNativeHash(strings.ToLower(nativeHashOfApp)))
	require.False(t, IsNativeHash(nativeHashOfApp[1:]+"0"), "no star")
	require.False(t, IsNativeHash("*5BCB3E6AC345B435C7C2E6B7949A04CE6F6563Z3"), "not hex")
	require.False(t, IsNativeHash("app"))

	u := User{Password: "front"}
	require.Equal(t, "front", u.BackendSecret())
	u.BackendPassword = "back"
	require.Equal(t, "back", u.BackendSecret())

	l := Limits{MaxAllowedPacket: 1 << 20}
	require.Equal(t, 1<<20, l.QueryLimit())
	l.MaxQueryLength = 100
	require.Equal(t, 100, l.QueryLimit())

	for addr, want := range map[string]bool{
		"127.0.0.1:6032": true, "127.5.6.7:1": true, "[::1]:6032": true, "LOCALHOST:1": true,
		":6032": false, "0.0.0.0:6032": false, "[::]:6032": false, "10.0.0.1:6032": false,
		"db.example.com:6032": false, "garbage": false,
	} {
		require.Equal(t, want, IsLoopbackListen(addr), addr)
	}
	require.True(t, TLS{Cert: "a", Key: "b"}.Enabled())
	require.False(t, TLS{Cert: "a"}.Enabled())
}

// TestLoadSecurityKeys reads the new keys from a file, with their
// defaults when absent.
func TestLoadSecurityKeys(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rwproxy.yaml")
	yaml := `
users:
  - { username: app, password: "` + nativeHashOfApp + `", backend_password: app, default_hostgroup: 10, require_tls: true }
servers:
  - { hostgroup: 10, host: 127.0.0.1, port: 3316, use_tls: true }
tls: { cert: c.pem, key: k.pem, backend_ca: ca.pem }
limits: { max_query_length: 65536, login_rate: 50, login_burst: 10 }
`
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	c, err := Load(path)
	require.NoError(t, err)
	require.True(t, c.Users[0].RequireTLS)
	require.Equal(t, "app", c.Users[0].BackendSecret())
	require.True(t, c.Servers[0].UseTLS)
	require.Equal(t, TLS{Cert: "c.pem", Key: "k.pem", BackendCA: "ca.pem", BackendVerifyHostname: true}, c.TLS)
	require.Equal(t, Limits{MaxAllowedPacket: DefaultMaxAllowedPacket, MaxQueryLength: 65536,
		MaxPreparedStatements: DefaultMaxPreparedStatements, LoginRate: 50, LoginBurst: 10,
		NetWriteTimeout: DefaultNetWriteTimeout, WaitTimeout: DefaultWaitTimeout,
		MaxUnauthenticated: DefaultMaxUnauthenticated, MaxUnauthenticatedPerSource: DefaultMaxUnauthenticatedPerSource,
		MaxLongData: DefaultMaxLongData, FullParseMaxLength: DefaultFullParseMaxLength, LoginLockTime: DefaultLoginLockTime}, c.Limits)

	// tls.cert is a restart key, the backend settings and limits are not.
	d := c.Clone()
	d.TLS.Cert = "other.pem"
	d.TLS.BackendCA = "other-ca.pem"
	d.Limits.LoginRate = 1
	require.Equal(t, []string{"tls.cert"}, RestartFields(c, d))
}
