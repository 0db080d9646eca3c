package config

import (
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"time"
)

// TLS configures TLS towards clients and towards backends (see
// docs/security.md).
type TLS struct {
	// Cert and Key are PEM files: the certificate chain and the private key
	// the client listener offers. Both set turns TLS on for clients (it
	// stays optional for each client unless its user has require_tls).
	Cert string `mapstructure:"cert" reload:"restart"`
	Key  string `mapstructure:"key" reload:"restart"`
	// BackendCA is a PEM bundle of the CAs that sign the certificates of
	// servers with use_tls; empty means the system's trust store.
	BackendCA string `mapstructure:"backend_ca"`
	// BackendVerifyHostname also checks that a backend certificate names
	// the server's host (MySQL's VERIFY_IDENTITY); false checks the chain
	// only (VERIFY_CA), for certificates without the right names.
	BackendVerifyHostname bool `mapstructure:"backend_verify_hostname"`
	// BackendInsecureSkipVerify accepts any backend certificate: the link
	// is encrypted but not authenticated. Not allowed with BackendCA.
	BackendInsecureSkipVerify bool `mapstructure:"backend_insecure_skip_verify"`
	// RSAKey is a PEM file holding the RSA private key of
	// caching_sha2_password's full authentication without TLS (PKCS#1 or
	// PKCS#8); empty: a new 2048-bit key at every start, so clients that
	// pinned the public key (MySQL's --server-public-key-path) break.
	RSAKey string `mapstructure:"rsa_key" reload:"restart"`
}

// Enabled reports whether the client listener offers TLS.
func (t TLS) Enabled() bool { return t.Cert != "" && t.Key != "" }

// Limits bound what one client can ask of the proxy.
type Limits struct {
	// MaxAllowedPacket bounds one client request in bytes (error 1153 and
	// the connection closed past it), as the server's max_allowed_packet.
	MaxAllowedPacket int `mapstructure:"max_allowed_packet"`
	// MaxQueryLength bounds the text of one statement (COM_QUERY,
	// COM_STMT_PREPARE) in bytes; 0 means MaxAllowedPacket.
	MaxQueryLength int `mapstructure:"max_query_length"`
	// MaxPreparedStatements caps the statements one session keeps
	// prepared (error 1461 past it), as max_prepared_stmt_count.
	MaxPreparedStatements int `mapstructure:"max_prepared_statements"`
	// LoginRate is the sustained rate of new client connections accepted
	// from one source address (IPv4 address or IPv6 /64), per second;
	// LoginBurst is how many may arrive at once. 0 turns the limit off.
	LoginRate  float64 `mapstructure:"login_rate"`
	LoginBurst int     `mapstructure:"login_burst"`
	// NetWriteTimeout bounds each write to a client, as MySQL's
	// net_write_timeout: a client that stops reading a result is
	// disconnected and its backend connection closed. 0: no bound.
	NetWriteTimeout time.Duration `mapstructure:"net_write_timeout"`
	// WaitTimeout closes a client connection idle this long between
	// commands, as MySQL's wait_timeout. 0: never.
	WaitTimeout time.Duration `mapstructure:"wait_timeout"`
	// MaxUnauthenticated caps the client connections that have not
	// finished logging in, in total; MaxUnauthenticatedPerSource per
	// source address (IPv4 address or IPv6 /64). Past either, error 1040
	// in place of the greeting. 0 turns a cap off.
	MaxUnauthenticated          int `mapstructure:"max_unauthenticated"`
	MaxUnauthenticatedPerSource int `mapstructure:"max_unauthenticated_per_source"`
	// MaxLongData caps the COM_STMT_SEND_LONG_DATA bytes one session holds
	// for executes still to come, all statements and parameters together;
	// 0 means MaxAllowedPacket. One parameter is bounded by MaxAllowedPacket.
	MaxLongData int `mapstructure:"max_long_data"`
	// FullParseMaxLength is the longest statement classified by the full
	// SQL parser; a longer one is classified from its tokens alone, and
	// goes to the primary unless it is provably a plain read.
	FullParseMaxLength int `mapstructure:"full_parse_max_length"`
	// MaxLoginFailures locks a user name for LoginLockTime after that many
	// consecutive failed logins (0 = off, as MySQL's FAILED_LOGIN_ATTEMPTS).
	MaxLoginFailures int           `mapstructure:"max_login_failures"`
	LoginLockTime    time.Duration `mapstructure:"login_lock_time"`
}

// LongDataLimit returns the effective max_long_data.
func (l Limits) LongDataLimit() int {
	if l.MaxLongData > 0 {
		return l.MaxLongData
	}
	return l.MaxAllowedPacket
}

// QueryLimit returns the effective max_query_length.
func (l Limits) QueryLimit() int {
	if l.MaxQueryLength > 0 {
		return l.MaxQueryLength
	}
	return l.MaxAllowedPacket
}

// Limit defaults and bounds.
const (
	// DefaultMaxAllowedPacket is limits.max_allowed_packet (256 MiB).
	DefaultMaxAllowedPacket = 256 << 20
	// MinMaxAllowedPacket and MaxMaxAllowedPacket bound it, as MySQL does.
	MinMaxAllowedPacket = 1024
	MaxMaxAllowedPacket = 1 << 30
	// DefaultMaxPreparedStatements is limits.max_prepared_statements
	// (MySQL's default max_prepared_stmt_count).
	DefaultMaxPreparedStatements = 16382
	// DefaultLoginRate and DefaultLoginBurst are limits.login_rate and
	// limits.login_burst: per source address, far above what a pooled
	// application needs, far below a flood.
	DefaultLoginRate  = 1000
	DefaultLoginBurst = 2000
	// DefaultNetWriteTimeout and DefaultWaitTimeout are MySQL's
	// net_write_timeout and wait_timeout defaults.
	DefaultNetWriteTimeout = 60 * time.Second
	DefaultWaitTimeout     = 28800 * time.Second
	// DefaultMaxQueryLength is limits.max_query_length: MySQL 8's default
	// max_allowed_packet, so a statement a default server accepts passes.
	DefaultMaxQueryLength = 64 << 20
	// DefaultMaxUnauthenticated and DefaultMaxUnauthenticatedPerSource
	// are limits.max_unauthenticated and
	// limits.max_unauthenticated_per_source (docs/security.md has the
	// memory a half-open connection costs).
	DefaultMaxUnauthenticated          = 1024
	DefaultMaxUnauthenticatedPerSource = 256
	// DefaultMaxLongData is limits.max_long_data: MySQL 8's default
	// max_allowed_packet, which bounds one parameter there.
	DefaultMaxLongData = 64 << 20
	// DefaultFullParseMaxLength is limits.full_parse_max_length (1 MiB):
	// the parser costs 150-250 times a statement's size.
	DefaultFullParseMaxLength = 1 << 20
	// DefaultLoginLockTime is limits.login_lock_time.
	DefaultLoginLockTime = time.Minute
	// DefaultAdminPassword is admin.password's default, refused on an
	// admin.listen that is not loopback.
	DefaultAdminPassword = "admin"
	// DefaultStatsPassword is ProxySQL's stats account password, refused
	// like DefaultAdminPassword.
	DefaultStatsPassword = "stats"
)

// BackendSecret is the password rwproxy logs into the backends with:
// BackendPassword when set, Password otherwise.
func (u User) BackendSecret() string {
	if u.BackendPassword != "" {
		return u.BackendPassword
	}
	return u.Password
}

// IsNativeHash reports whether pw is a mysql_native_password hash: "*" and
// the 40 hex digits of SHA1(SHA1(password)).
func IsNativeHash(pw string) bool {
	if len(pw) != 41 || pw[0] != '*' {
		return false
	}
	_, err := hex.DecodeString(pw[1:])
	return err == nil
}

// validateSecurity checks the tls and limits sections, the security keys
// of users and servers, and refuses the default admin password on an admin
// listener reachable from other hosts.
func (c *Config) validateSecurity(p *problems) {
	t := c.TLS
	if (t.Cert == "") != (t.Key == "") {
		p.add("tls.cert", "tls.cert and tls.key must be set together (got cert %q, key %q)", t.Cert, t.Key)
	}
	if t.BackendCA != "" && t.BackendInsecureSkipVerify {
		p.add("tls.backend_insecure_skip_verify", "contradicts tls.backend_ca (%q): verify with the CA or skip verification, not both", t.BackendCA)
	}
	c.Limits.validate(p)
	for i, u := range c.Users {
		path := fmt.Sprintf("users[%d]", i)
		if u.Password == "" && !u.AllowEmptyPassword {
			p.add(path+".password", "is empty: anyone who knows the user name %q would log in; set a password, or allow_empty_password: true for an account meant to have none", u.Username)
		}
		if u.RequireTLS && !t.Enabled() {
			p.add(path+".require_tls", "needs tls.cert and tls.key: without TLS on the listener this user could never log in")
		}
		if IsNativeHash(u.Password) && u.BackendPassword == "" {
			p.add(path+".backend_password", "is required: password is a mysql_native_password hash, and rwproxy needs the plain text to log into the backends")
		}
		if IsNativeHash(u.BackendPassword) {
			p.add(path+".backend_password", "must be the plain-text password (a hash cannot log into a backend)")
		}
	}
	tlsOf := make(map[string]int)
	for i, s := range c.Servers {
		addr := net.JoinHostPort(s.Host, fmt.Sprint(s.Port))
		j, seen := tlsOf[addr]
		if !seen {
			tlsOf[addr] = i
			continue
		}
		if c.Servers[j].UseTLS != s.UseTLS {
			p.add(fmt.Sprintf("servers[%d].use_tls", i), "%t differs from servers[%d] (%s): one address has one connection setting", s.UseTLS, j, addr)
		}
	}
	if (c.Admin.Password == DefaultAdminPassword || c.Admin.Password == "") && !IsLoopbackListen(c.Admin.Listen) {
		p.add("admin.password", "the default or an empty password is refused on a non-loopback admin.listen (%q): set a password or listen on 127.0.0.1", c.Admin.Listen)
	}
	c.Admin.validateSecurity(p)
}

// validateSecurity checks the read-only account and the admin TLS files.
func (a Admin) validateSecurity(p *problems) {
	if (a.TLSCert == "") != (a.TLSKey == "") {
		p.add("admin.tls_cert", "admin.tls_cert and admin.tls_key must be set together (got cert %q, key %q)", a.TLSCert, a.TLSKey)
	}
	if a.StatsUsername == "" {
		return
	}
	if a.StatsUsername == a.Username {
		p.add("admin.stats_username", "%q is also admin.username: the read-only account needs its own name", a.StatsUsername)
	}
	if (a.StatsPassword == DefaultStatsPassword || a.StatsPassword == "") && !IsLoopbackListen(a.Listen) {
		p.add("admin.stats_password", "the default or an empty password is refused on a non-loopback admin.listen (%q)", a.Listen)
	}
}

func (l Limits) validate(p *problems) {
	if l.MaxAllowedPacket < MinMaxAllowedPacket || l.MaxAllowedPacket > MaxMaxAllowedPacket {
		p.add("limits.max_allowed_packet", "%d is not in %d..%d bytes", l.MaxAllowedPacket, MinMaxAllowedPacket, MaxMaxAllowedPacket)
	}
	if l.MaxQueryLength < 0 {
		p.add("limits.max_query_length", "%d must be >= 0 (0 = limits.max_allowed_packet)", l.MaxQueryLength)
	}
	if l.MaxPreparedStatements < 1 {
		p.add("limits.max_prepared_statements", "%d must be >= 1", l.MaxPreparedStatements)
	}
	if l.LoginRate < 0 {
		p.add("limits.login_rate", "%g must be >= 0 (0 turns the limit off)", l.LoginRate)
	}
	if l.LoginRate > 0 && l.LoginBurst < 1 {
		p.add("limits.login_burst", "%d must be >= 1 when limits.login_rate is set", l.LoginBurst)
	}
	if l.NetWriteTimeout < 0 {
		p.add("limits.net_write_timeout", "%s must be >= 0 (0: no bound)", l.NetWriteTimeout)
	}
	if l.WaitTimeout < 0 {
		p.add("limits.wait_timeout", "%s must be >= 0 (0: never)", l.WaitTimeout)
	}
	if l.MaxLoginFailures > 0 && l.LoginLockTime <= 0 {
		p.add("limits.login_lock_time", "%s must be > 0 when limits.max_login_failures is set", l.LoginLockTime)
	}
	for _, k := range []struct {
		key string
		v   int
	}{
		{"limits.max_unauthenticated", l.MaxUnauthenticated},
		{"limits.max_unauthenticated_per_source", l.MaxUnauthenticatedPerSource},
		{"limits.max_long_data", l.MaxLongData},
		{"limits.full_parse_max_length", l.FullParseMaxLength},
		{"limits.max_login_failures", l.MaxLoginFailures},
	} {
		if k.v < 0 {
			p.add(k.key, "%d must be >= 0", k.v)
		}
	}
}

// IsLoopbackListen reports whether a listen address accepts loopback
// connections only: its host is a loopback IP or "localhost". An empty
// host, 0.0.0.0 and :: listen on every interface.
func IsLoopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
