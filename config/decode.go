package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

// decode turns viper's merged settings into a validated Config. It returns
// missing required keys, decoding problems and validation problems
// together, dropping a validation problem when one was already reported for
// the same path or an enclosing one (a port that failed to parse is not also
// "0 is not a valid port").
func decode(settings map[string]any) (*Config, error) {
	applyItemDefaults(settings)
	var cfg Config
	decodeErrs := append(requiredItemKeys(settings), decodeProblems(decodeInto(settings, &cfg))...)
	applyCheckTypeDefault(&cfg)

	reported := make(map[string]bool, len(decodeErrs))
	for _, e := range decodeErrs {
		var fe *FieldError
		if errors.As(e, &fe) {
			reported[fe.Path] = true
		}
	}
	all := decodeErrs
	for _, e := range unjoin(cfg.Validate()) {
		var fe *FieldError
		if errors.As(e, &fe) && coveredBy(fe.Path, reported) {
			continue
		}
		all = append(all, e)
	}
	if len(all) > 0 {
		return nil, errors.Join(all...)
	}
	return &cfg, nil
}

// coveredBy reports whether path, or a key or item containing it, is in
// reported: once "pool" failed to decode, "pool.max_idle" is noise.
func coveredBy(path string, reported map[string]bool) bool {
	for {
		if reported[path] {
			return true
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return false
		}
		path = path[:i]
	}
}

// unjoin returns the errors joined in err (or err itself), nil for nil.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// decodeInto decodes settings into cfg. Unknown keys are errors, strings
// convert to numbers and booleans (environment values are strings), and
// durations must carry a unit.
func decodeInto(settings map[string]any, cfg *Config) error {
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:           cfg,
		ErrorUnused:      true,
		WeaklyTypedInput: true,
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			durationHook,
			mapstructure.StringToSliceHookFunc(","),
		),
	})
	if err != nil {
		// Only a bad DecoderConfig gets here: a programmer error.
		panic(fmt.Sprintf("config: building decoder: %v", err))
	}
	return dec.Decode(settings)
}

var durationType = reflect.TypeFor[time.Duration]()

// durationHook parses "1s"-style strings into time.Duration and rejects bare
// numbers other than 0: "interval: 1" would otherwise silently mean 1ns.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType || from == durationType {
		return data, nil
	}
	switch d := data.(type) {
	case string:
		dur, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration such as 500ms, 1s, 5m or 1h", d)
		}
		return dur, nil
	case int, int64, uint64, float64:
		if reflect.ValueOf(d).IsZero() {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("%v has no unit: write a duration such as %vs or %vms", d, d, d)
	}
	return data, nil
}

// applyItemDefaults fills keys absent from list items before decoding, so
// that an explicit "weight: 0" (drain) is kept while a missing weight is 1.
func applyItemDefaults(settings map[string]any) {
	forEachItem(settings["servers"], func(_ int, m map[string]any) {
		setIfAbsent(m, "weight", DefaultServerWeight)
		setIfAbsent(m, "status", DefaultServerStatus)
		setIfAbsent(m, "max_connections", DefaultServerMaxConnections)
	})
	forEachItem(settings["users"], func(_ int, m map[string]any) {
		setIfAbsent(m, "consistency", DefaultConsistency)
		setIfAbsent(m, "consistency_scope", DefaultConsistencyScope)
		setIfAbsent(m, "read_your_writes_timeout", DefaultReadYourWritesTimeout)
	})
	forEachItem(settings["group_replication_hostgroups"], func(_ int, m map[string]any) {
		setIfAbsent(m, "max_writers", DefaultMaxWriters)
	})
	forEachItem(settings["hostgroup_attributes"], func(_ int, m map[string]any) {
		setIfAbsent(m, "balance", DefaultBalance)
		setIfAbsent(m, "affinity", DefaultAffinity)
	})
	// A rule written in the file is meant to be used unless it says
	// "active: false"; ProxySQL's table default (0) would make a rule that
	// omits the key silently do nothing.
	forEachItem(settings["query_rules"], func(_ int, m map[string]any) {
		setIfAbsent(m, "active", true)
	})
}

// requiredItemKeys reports list-item keys that must be written out because
// their zero value (hostgroup 0) is legal and would hide the omission.
func requiredItemKeys(settings map[string]any) []error {
	var out []error
	check := func(list string, keys ...string) {
		forEachItem(settings[list], func(i int, m map[string]any) {
			for _, k := range keys {
				if m[k] == nil {
					out = append(out, &FieldError{Path: fmt.Sprintf("%s[%d].%s", list, i, k), Msg: "is required"})
				}
			}
		})
	}
	check("users", "default_hostgroup")
	check("replication_hostgroups", "writer_hostgroup", "reader_hostgroup")
	check("group_replication_hostgroups", "writer_hostgroup", "backup_writer_hostgroup",
		"reader_hostgroup", "offline_hostgroup")
	check("hostgroup_attributes", "hostgroup_id")
	return out
}

// applyCheckTypeDefault sets an empty check_type to DefaultCheckType.
func applyCheckTypeDefault(cfg *Config) {
	for i := range cfg.ReplicationHostgroups {
		if cfg.ReplicationHostgroups[i].CheckType == "" {
			cfg.ReplicationHostgroups[i].CheckType = DefaultCheckType
		}
	}
}

// forEachItem calls fn for every map in list with its index; anything that
// is not a list of maps is left for the decoder to report.
func forEachItem(list any, fn func(i int, m map[string]any)) {
	items, ok := list.([]any)
	if !ok {
		return
	}
	for i, it := range items {
		if m, ok := it.(map[string]any); ok {
			fn(i, m)
		}
	}
}

// setIfAbsent sets m[key] unless the key is present with a non-null value.
// Viper has already lower-cased the keys.
func setIfAbsent(m map[string]any, key string, v any) {
	if cur, ok := m[key]; !ok || cur == nil {
		m[key] = v
	}
}

// decodeProblems flattens a mapstructure error tree into FieldErrors, one per
// bad key; "has invalid keys: a, b" becomes one "unknown key" per name.
func decodeProblems(err error) []error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		switch x := e.(type) {
		case nil:
		case interface{ Unwrap() []error }:
			for _, inner := range x.Unwrap() {
				walk(inner)
			}
		case *mapstructure.DecodeError:
			inner := x.Unwrap()
			var nested *mapstructure.DecodeError
			if _, joined := inner.(interface{ Unwrap() []error }); joined || errors.As(inner, &nested) {
				walk(inner) // nested errors carry their own full path
				return
			}
			out = append(out, fieldDecodeErrors(x.Name(), inner)...)
		default:
			if inner := errors.Unwrap(e); inner != nil {
				walk(inner) // the "decoding failed due to..." wrapper
				return
			}
			out = append(out, &FieldError{Path: "config", Msg: e.Error()})
		}
	}
	walk(err)
	return out
}

// rootTypeName is how mapstructure v2.5 names the top level of a decode.
var rootTypeName = reflect.TypeFor[Config]().String()

// fieldDecodeErrors converts one mapstructure leaf error at path name.
func fieldDecodeErrors(name string, err error) []error {
	const unknown = "has invalid keys: "
	if name == rootTypeName {
		// mapstructure v2.5 names the root by its type (v2.4: "").
		name = ""
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, unknown) {
		if name == "" {
			name = "config"
		}
		return []error{&FieldError{Path: name, Msg: typeMessage(name, err)}}
	}
	var out []error
	for _, key := range strings.Split(strings.TrimPrefix(msg, unknown), ", ") {
		if name != "" {
			key = name + "." + key
		}
		out = append(out, &FieldError{Path: key, Msg: "unknown key (misspelled? see docs/configuration.md)"})
	}
	return out
}

// typeMessage rewords mapstructure's type errors around the offending value
// at path, which is not echoed for passwords and secrets.
func typeMessage(path string, err error) string {
	var pe *mapstructure.ParseError
	var ue *mapstructure.UnconvertibleTypeError
	switch {
	case errors.As(err, &pe) && isSecret(path):
		return fmt.Sprintf("value is not a valid %s", pe.Expected.Type())
	case errors.As(err, &pe):
		return fmt.Sprintf("%#v is not a valid %s", pe.Value, pe.Expected.Type())
	case errors.As(err, &ue) && isSecret(path):
		return fmt.Sprintf("expected %s", ue.Expected.Type())
	case errors.As(err, &ue):
		return fmt.Sprintf("expected %s, got %#v", ue.Expected.Type(), ue.Value)
	}
	return err.Error()
}
