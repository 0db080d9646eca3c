package config

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// Configuration sources (config_source): which authority owns the shared
// modules (servers, users, query rules, variables).
const (
	// ConfigSourceAdmin: the file seeds rwproxy.db on the first start (or
	// with --initial); afterwards the admin interface and rwproxy.db own
	// the shared modules and the file is not watched (ProxySQL's model).
	ConfigSourceAdmin = "admin"
	// ConfigSourceFile: the file owns the shared modules; it is watched and
	// re-applied when it changes, admin writes to shared modules are
	// refused and rwproxy.db is only a cache of the file.
	ConfigSourceFile = "file"
)

// FileIsAuthority reports whether config_source is file.
func (c *Config) FileIsAuthority() bool { return c.ConfigSource == ConfigSourceFile }

var validConfigSources = []string{ConfigSourceAdmin, ConfigSourceFile}

// nodeLocalKeys are the top-level keys that belong to one node: they come
// from the file and the environment on every start and are never taken
// from rwproxy.db or from a cluster peer. Everything else is shared (see
// SharedModuleOf). docs/configuration.md has the same table;
// TestNodeLocalTableInDocs keeps them in step.
var nodeLocalKeys = []string{
	"config_source", "listen", "server_version", "threads", "log", "admin", "http", "tls", "limits", "cluster",
}

// IsNodeLocal reports whether the key (a path such as "admin.password" or
// "pool.max_idle") is node-local.
func IsNodeLocal(key string) bool {
	top, _, _ := strings.Cut(key, ".")
	return slices.Contains(nodeLocalKeys, top)
}

// NodeLocalKeys returns the node-local top-level keys.
func NodeLocalKeys() []string { return slices.Clone(nodeLocalKeys) }

// Override is one environment variable in effect.
type Override struct {
	Key string // e.g. "max_connections"
	Var string // e.g. "RWPROXY_MAX_CONNECTIONS"
	// Value is the variable's value, "(secret)" for passwords and secrets.
	Value string
}

// String is "RWPROXY_X=value (key)".
func (o Override) String() string { return o.Var + "=" + o.Value + " (" + o.Key + ")" }

// EnvOverrides returns the RWPROXY_* variables set (non-empty) in the
// environment that override a key, sorted by key, and the names of
// RWPROXY_* variables that match no key (a typo: they are ignored).
func EnvOverrides() (in []Override, unknown []string) {
	keys := scalarDefaults(Defaults())
	byVar := make(map[string]string, len(keys))
	for k := range keys {
		byVar[EnvVar(k)] = k
	}
	for _, kv := range os.Environ() {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix+"_") || val == "" {
			continue
		}
		key, ok := byVar[name]
		if !ok {
			if !slices.Contains(nonKeyVars, name) {
				unknown = append(unknown, name)
			}
			continue
		}
		shown := val
		if isSecret(key) {
			shown = "(secret)"
		}
		in = append(in, Override{Key: key, Var: name, Value: shown})
	}
	sort.Slice(in, func(i, j int) bool { return in[i].Key < in[j].Key })
	sort.Strings(unknown)
	return in, unknown
}

// nonKeyVars are RWPROXY_* variables that rwproxy or its test harnesses
// read for other purposes: not typos.
var nonKeyVars = []string{
	"RWPROXY_IT_BASE_PORT", "RWPROXY_FAILOVER_BASE_PORT", "RWPROXY_OPS_BASE_PORT", "RWPROXY_MGR_BASE_PORT",
	"RWPROXY_BIN", "RWPROXY_DASH_PNG", "RWPROXY_REQUIRE_CHROMIUM", "RWPROXY_UPDATE_SCREENSHOT",
}

// ApplyEnv sets every key overridden in the environment on c (a
// configuration read from rwproxy.db, say), and returns the overrides
// applied. Values convert as in Load; a bad value is an error naming the
// variable. c is modified in place.
func ApplyEnv(c *Config) ([]Override, error) {
	in, _ := EnvOverrides()
	if len(in) == 0 {
		return nil, nil
	}
	settings := make(map[string]any)
	for _, o := range in {
		setPath(settings, o.Key, os.Getenv(o.Var))
	}
	if err := decodeInto(settings, c); err != nil {
		return nil, fmt.Errorf("environment overrides: %w", err)
	}
	return in, nil
}

// setPath stores val at the dotted path in the nested map m.
func setPath(m map[string]any, path string, val any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = make(map[string]any)
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = val
}

// EnvPinned returns the keys of c whose values differ from what the
// environment sets. It returns nil when no override is in effect or c
// agrees with all.
func EnvPinned(c *Config) []string {
	want := c.Clone()
	in, err := ApplyEnv(want)
	if err != nil || len(in) == 0 {
		return nil
	}
	var out []string
	for _, o := range in {
		if !reflect.DeepEqual(valueAt(c, o.Key), valueAt(want, o.Key)) {
			out = append(out, o.Key)
		}
	}
	return out
}

// envUndone returns the keys set by the environment that the change from
// cur to next would move away from the environment's value (a key that
// already differs, e.g. log.level given by --log-level, and is left as it
// is, is not one).
func envUndone(cur, next *Config) []string {
	var out []string
	for _, k := range EnvPinned(next) {
		if !reflect.DeepEqual(valueAt(cur, k), valueAt(next, k)) {
			out = append(out, k)
		}
	}
	return out
}

// valueAt returns the value of the scalar key path in c (nil if unknown).
func valueAt(c *Config, path string) any {
	v := reflect.ValueOf(c).Elem()
	for _, part := range strings.Split(path, ".") {
		if v.Kind() != reflect.Struct {
			return nil
		}
		found := false
		for i := range v.NumField() {
			if strings.Split(v.Type().Field(i).Tag.Get("mapstructure"), ",")[0] == part {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			return nil
		}
	}
	return v.Interface()
}

// WithNodeLocal returns a copy of c with every node-local key taken from
// file (a SIGHUP with config_source: admin: the file owns those keys only).
func WithNodeLocal(c, file *Config) *Config {
	out := c.Clone()
	src := file.Clone()
	ov, sv := reflect.ValueOf(out).Elem(), reflect.ValueOf(src).Elem()
	t := ov.Type()
	for i := range t.NumField() {
		if IsNodeLocal(strings.Split(t.Field(i).Tag.Get("mapstructure"), ",")[0]) {
			ov.Field(i).Set(sv.Field(i))
		}
	}
	return out
}
