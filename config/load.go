package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/spf13/viper"
)

// EnvPrefix prefixes the environment variables that override scalar keys:
// the key's path upper-cased with "." replaced by "_", e.g. admin.password
// is overridden by RWPROXY_ADMIN_PASSWORD.
const EnvPrefix = "RWPROXY"

// Load reads the YAML file at path, applies environment overrides and
// defaults, and validates the result. On failure the error lists every
// problem found (unknown keys, values of the wrong type, missing required
// keys, failed validation), one "path: message" per line; it matches
// ErrInvalid unless the file could not be read or parsed as YAML at all.
//
// Precedence, highest first: RWPROXY_* environment variable, file, Defaults().
// Only scalar keys (and cluster.join, as a comma-separated list) can be
// overridden from the environment; lists of users, servers, replication
// hostgroups, query rules and hostgroup attributes come from the file only.
func Load(path string) (*Config, error) {
	v := viper.New()
	v.SetConfigFile(path)
	v.SetConfigType("yaml") // whatever the extension
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_")) // must agree with EnvVar
	v.AutomaticEnv()
	// AutomaticEnv only consults keys viper knows about; registering every
	// scalar default makes RWPROXY_* work for keys absent from the file.
	for key, val := range scalarDefaults(Defaults()) {
		v.SetDefault(key, val)
	}
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	cfg, err := decode(v.AllSettings())
	if err != nil {
		blameEnv(err)
		return nil, fmt.Errorf("config %s is invalid:\n%w", path, err)
	}
	return cfg, nil
}

// EnvVar returns the environment variable that overrides key, e.g.
// "RWPROXY_POOL_MAX_IDLE" for "pool.max_idle".
func EnvVar(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// blameEnv appends the variable's name to problems whose value came from the
// environment, which the file being blamed would not show.
func blameEnv(err error) {
	for _, e := range unjoin(err) {
		var fe *FieldError
		if !errors.As(e, &fe) {
			continue
		}
		if val, ok := os.LookupEnv(EnvVar(fe.Path)); ok && val != "" {
			fe.Msg += " (set by " + EnvVar(fe.Path) + ")"
		}
	}
}

// scalarDefaults flattens c into viper keys ("pool.max_idle") for every
// field that is not a list of structs: those are the keys the environment
// can override.
func scalarDefaults(c *Config) map[string]any {
	out := make(map[string]any)
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		t := v.Type()
		for i := range t.NumField() {
			tag := strings.Split(t.Field(i).Tag.Get("mapstructure"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			key := prefix + tag
			f := v.Field(i)
			switch {
			case f.Kind() == reflect.Struct:
				walk(key+".", f)
			case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct:
				// users, servers, ...: file only.
			default:
				out[key] = f.Interface()
			}
		}
	}
	walk("", reflect.ValueOf(c).Elem())
	return out
}
