package config

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ErrInvalid is matched (errors.Is) by every problem Validate reports, so
// callers can tell a rejected configuration from an I/O failure.
var ErrInvalid = errors.New("config: invalid")

// FieldError is one validation problem. Path is the key as written in the
// YAML file, e.g. "servers[2].port"; Msg says what is wrong with its value.
type FieldError struct {
	Path string
	Msg  string
}

// Error formats the problem as "path: msg".
func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// problems collects every FieldError found by one Validate call.
type problems []error

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// maxThreads bounds the threads key (GOMAXPROCS).
const maxThreads = 1024

// Validate checks the whole configuration and returns every problem at once,
// joined with errors.Join (one "path: message" per line), or nil. It does
// not apply defaults: Load has already done that for file input.
func (c *Config) Validate() error {
	if c == nil {
		return &FieldError{Path: "config", Msg: "is nil"}
	}
	var p problems
	if c.ConfigSource != "" { // "" (a Config built in code) means admin
		p.oneOf("config_source", c.ConfigSource, validConfigSources)
	}
	p.listenAddr("listen", c.Listen)
	if c.MaxConnections <= 0 {
		p.add("max_connections", "%d must be > 0", c.MaxConnections)
	}
	// An empty server_version is legal: the proxy then announces the
	// version of a backend (internal/app probes it at start).
	p.positive("shutdown_timeout", c.ShutdownTimeout)
	if c.Threads < 0 || c.Threads > maxThreads {
		p.add("threads", "%d must be between 0 (by the load, up to the CPUs the process may use) and %d", c.Threads, maxThreads)
	}
	p.oneOf("reader_fallback", c.ReaderFallback, validReaderFallbacks)
	if c.FailoverBuffer < 0 {
		p.add("failover_buffer", "%s must be >= 0 (0 disables the wait)", c.FailoverBuffer)
	}
	p.timeout("query_timeout", c.QueryTimeout)
	c.validateReplay(&p)
	if c.QueryCacheSizeMB < 0 || c.QueryCacheSizeMB > MaxQueryCacheSizeMB {
		p.add("query_cache_size_mb", "%d must be between 0 (nothing is kept) and %d", c.QueryCacheSizeMB, MaxQueryCacheSizeMB)
	}
	c.Log.validate(&p)
	c.Admin.validate(&p)
	c.HTTP.validate(&p)
	c.Monitor.validate(&p)
	c.Pool.validate(&p)
	c.Cluster.validate(&p)
	c.validateAddrClash(&p)
	c.validateSecurity(&p)
	c.Tracing.validate(&p)

	withServers := c.validateServers(&p)
	c.validateUsers(&p, withServers)
	known := c.validateReplication(&p, withServers)
	c.validateGroupReplication(&p, known)
	c.validateQueryRules(&p, known)
	c.validateHostgroupAttributes(&p, withServers)
	c.validateProxySQLFields(&p)
	c.validateScheduler(&p)
	c.validateFirewall(&p)
	return errors.Join(p...)
}

// validReaderFallbacks are the accepted reader_fallback values.
var validReaderFallbacks = []string{ReaderFallbackWriter, ReaderFallbackError}

// validLogLevels are the zap levels an operator may choose.
var validLogLevels = []string{"debug", "info", "warn", "error"}

// validLogFormats are the accepted log.format values.
var validLogFormats = []string{LogFormatAuto, LogFormatConsole, LogFormatJSON}

func (l Log) validate(p *problems) {
	p.oneOf("log.level", l.Level, validLogLevels)
	p.oneOf("log.format", l.Format, validLogFormats)
	if l.SlowQueryThreshold < 0 {
		p.add("log.slow_query_threshold", "%s must be >= 0 (0 turns the slow query log off)", l.SlowQueryThreshold)
	}
}

func (h HTTP) validate(p *problems) {
	if h.Listen != "" { // empty: no HTTP listener
		p.listenAddr("http.listen", h.Listen)
	}
}

func (a Admin) validate(p *problems) {
	p.listenAddr("admin.listen", a.Listen)
	p.nonEmpty("admin.username", a.Username)
	p.nonEmpty("admin.datadir", a.Datadir)
}

func (m Monitor) validate(p *problems) {
	p.nonEmpty("monitor.username", m.Username)
	p.positive("monitor.interval", m.Interval)
	p.positive("monitor.timeout", m.Timeout)
	for _, d := range []struct {
		path string
		v    time.Duration
	}{
		{"monitor.ping_interval", m.PingInterval},
		{"monitor.read_only_interval", m.ReadOnlyInterval},
		{"monitor.replication_lag_interval", m.ReplicationLagInterval},
	} {
		if d.v < 0 {
			p.add(d.path, "%s must be >= 0 (0 = monitor.interval)", d.v)
		}
	}
	for _, n := range []struct {
		path string
		v    int
	}{
		{"monitor.shun_after_failures", m.ShunAfterFailures},
		{"monitor.lag_shun_after", m.LagShunAfter},
		{"monitor.lag_unshun_after", m.LagUnshunAfter},
	} {
		if n.v < 1 {
			p.add(n.path, "%d must be >= 1", n.v)
		}
	}
	if m.HeartbeatTable != "" && !heartbeatTableRE.MatchString(m.HeartbeatTable) {
		p.add("monitor.heartbeat_table", "%q is not a table name such as heartbeat.heartbeat (letters, digits, _ and $; at most one dot)", m.HeartbeatTable)
	}
}

// heartbeatTableRE accepts "table" or "db.table" with unquoted identifier
// characters only: the name is spliced into the lag query.
var heartbeatTableRE = regexp.MustCompile(`^[A-Za-z0-9_$]+(\.[A-Za-z0-9_$]+)?$`)

func (pl Pool) validate(p *problems) {
	p.positive("pool.connect_timeout", pl.ConnectTimeout)
	if pl.MinIdle < 0 {
		p.add("pool.min_idle", "%d must be >= 0", pl.MinIdle)
	}
	if pl.MaxIdle < 0 {
		p.add("pool.max_idle", "%d must be >= 0", pl.MaxIdle)
	}
	if pl.MinIdle > pl.MaxIdle && pl.MaxIdle >= 0 {
		p.add("pool.min_idle", "%d must not exceed pool.max_idle (%d)", pl.MinIdle, pl.MaxIdle)
	}
	p.positive("pool.idle_timeout", pl.IdleTimeout)
	p.positive("pool.max_lifetime", pl.MaxLifetime)
	// ping_after 0 is meaningful: ping at every checkout.
	if pl.PingAfter < 0 {
		p.add("pool.ping_after", "%s must be >= 0", pl.PingAfter)
	}
	p.positive("pool.wait_timeout", pl.WaitTimeout)
}

func (cl Cluster) validate(p *problems) {
	// An unused bind address may be empty; a configured one must parse.
	if cl.Enabled || cl.Bind != "" {
		p.listenAddr("cluster.bind", cl.Bind)
	}
	// memberlist binds IP addresses only.
	if host, _, err := net.SplitHostPort(cl.Bind); cl.Enabled && err == nil && host != "" && net.ParseIP(host) == nil {
		p.add("cluster.bind", "%q: host must be an IP address (or empty for all interfaces)", cl.Bind)
	}
	for i, addr := range cl.Join {
		p.dialAddr(fmt.Sprintf("cluster.join[%d]", i), addr)
	}
	// Peers to join with the cluster off would silently run a lone node.
	if !cl.Enabled && len(cl.Join) > 0 {
		p.add("cluster.join", "lists %d peer(s) but cluster.enabled is false: set cluster.enabled: true to join them, or empty the list",
			len(cl.Join))
	}
	// Unencrypted gossip lets anyone who reaches the port read every
	// password in the shared modules and inject users: only loopback.
	if cl.Enabled && cl.Secret == "" && !IsLoopbackListen(cl.Bind) {
		p.add("cluster.secret", "is required when cluster.bind (%q) is not a loopback address: without it any host that reaches the gossip port reads and changes the shared configuration",
			cl.Bind)
	}
	// The secret is a passphrase (the key is derived from it), so any
	// length works for AES; a floor keeps it from being guessable.
	if cl.Enabled && len(cl.Secret) > 0 && len(cl.Secret) < MinSecretLen {
		p.add("cluster.secret", "must be at least %d bytes long (a passphrase; the AES-256 key is derived from it), got %d",
			MinSecretLen, len(cl.Secret))
	}
	if len(cl.NodeName) > MaxNodeNameLen {
		p.add("cluster.node_name", "is %d bytes long, at most %d allowed", len(cl.NodeName), MaxNodeNameLen)
	}
	if cl.Advertise != "" {
		p.dialAddr("cluster.advertise", cl.Advertise)
		if host, _, err := net.SplitHostPort(cl.Advertise); err == nil && host != "" && net.ParseIP(host) == nil {
			p.add("cluster.advertise", "%q: host must be an IP address", cl.Advertise)
		}
	}
	for _, d := range []struct {
		path string
		v    time.Duration
	}{{"cluster.gossip_interval", cl.GossipInterval}, {"cluster.push_pull_interval", cl.PushPullInterval}} {
		if d.v < 0 {
			p.add(d.path, "%s must be >= 0 (0 = the default)", d.v)
		}
	}
}

// validateAddrClash rejects two listeners configured on the same fixed
// address; port 0 (pick a free port) never clashes.
func (c *Config) validateAddrClash(p *problems) {
	type listener struct{ path, addr string }
	ls := []listener{{"listen", c.Listen}, {"admin.listen", c.Admin.Listen}}
	if c.HTTP.Listen != "" {
		ls = append(ls, listener{"http.listen", c.HTTP.Listen})
	}
	if c.Cluster.Enabled {
		ls = append(ls, listener{"cluster.bind", c.Cluster.Bind})
	}
	for i := range ls {
		for j := range i {
			if ls[i].addr == ls[j].addr && !strings.HasSuffix(ls[i].addr, ":0") {
				p.add(ls[i].path, "%q is already used by %s", ls[i].addr, ls[j].path)
			}
		}
	}
}

func (p *problems) nonEmpty(path, v string) {
	if strings.TrimSpace(v) == "" {
		p.add(path, "must not be empty")
	}
}

func (p *problems) positive(path string, d time.Duration) {
	if d <= 0 {
		p.add(path, "%s must be > 0 (write it with a unit, e.g. 1s)", d)
	}
}

func (p *problems) oneOf(path, v string, allowed []string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	p.add(path, "%q is not one of %s", v, strings.Join(allowed, ", "))
}

// listenAddr checks a host:port to listen on; the host may be empty (all
// interfaces) and the port may be 0 (any free port).
func (p *problems) listenAddr(path, addr string) {
	if _, err := splitAddr(addr, 0); err != nil {
		p.add(path, "%q: %v", addr, err)
	}
}

// dialAddr checks a host:port to connect to: both parts are required.
func (p *problems) dialAddr(path, addr string) {
	host, err := splitAddr(addr, 1)
	if err == nil && host == "" {
		err = errors.New("host must not be empty")
	}
	if err != nil {
		p.add(path, "%q: %v", addr, err)
	}
}

// splitAddr parses host:port and checks the port is in minPort..65535.
func splitAddr(addr string, minPort int) (host string, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			err = errors.New(ae.Err)
		}
		return "", fmt.Errorf("not a host:port address (%w)", err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < minPort || n > 65535 {
		return "", fmt.Errorf("port %q is not a valid port (%d-65535)", port, minPort)
	}
	return host, nil
}

// timeout checks a statement timeout: >= 0 (0 = none), in whole
// milliseconds (the admin tables hold milliseconds, and a value must
// survive SAVE and LOAD unchanged).
func (p *problems) timeout(path string, d time.Duration) {
	switch {
	case d < 0:
		p.add(path, "%s must be >= 0 (0 = no timeout)", d)
	case d%time.Millisecond != 0:
		p.add(path, "%s must be a whole number of milliseconds", d)
	}
}
