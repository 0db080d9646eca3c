package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// ErrRestartRequired is matched (errors.Is) by a Store.Apply error rejecting
// a change to a field tagged reload:"restart".
var ErrRestartRequired = errors.New("config: change needs a restart")

// RestartFields returns the paths (e.g. "admin.listen") of the fields tagged
// reload:"restart" whose values differ between a and b, in declaration
// order. Only struct fields are compared; lists are always hot-reloadable.
func RestartFields(a, b *Config) []string {
	var out []string
	walkRestart(reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem(), "",
		func(path string, av, bv reflect.Value) {
			if !reflect.DeepEqual(av.Interface(), bv.Interface()) {
				out = append(out, path)
			}
		})
	return out
}

// restartError describes the rejected changes; secrets are not echoed.
func restartError(a, b *Config) error {
	var diffs []string
	walkRestart(reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem(), "",
		func(path string, av, bv reflect.Value) {
			if reflect.DeepEqual(av.Interface(), bv.Interface()) {
				return
			}
			if isSecret(path) {
				diffs = append(diffs, path+" changed")
				return
			}
			diffs = append(diffs, fmt.Sprintf("%s %#v -> %#v", path, av.Interface(), bv.Interface()))
		})
	if len(diffs) == 0 {
		return nil
	}
	return fmt.Errorf("%w (change rejected, running config kept): %s",
		ErrRestartRequired, strings.Join(diffs, "; "))
}

// keepRestartFields copies every reload:"restart" field from src into dst.
// Those fields (listen addresses, datadir, node name, ...) are node-local:
// a configuration adopted from a peer must not change them.
func keepRestartFields(dst, src *Config) {
	walkRestart(reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem(), "",
		func(_ string, dv, sv reflect.Value) { dv.Set(sv) })
}

// isSecret reports whether the value at path must not appear in messages.
func isSecret(path string) bool {
	return strings.Contains(path, "password") || strings.Contains(path, "secret")
}

// walkRestart calls fn for each pair of reload:"restart" fields of the
// structs a and b (same type), recursing into nested structs.
func walkRestart(a, b reflect.Value, prefix string, fn func(path string, a, b reflect.Value)) {
	t := a.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		path := prefix + strings.Split(sf.Tag.Get("mapstructure"), ",")[0]
		switch {
		case sf.Tag.Get("reload") == "restart":
			fn(path, a.Field(i), b.Field(i))
		case sf.Type.Kind() == reflect.Struct:
			walkRestart(a.Field(i), b.Field(i), path+".", fn)
		}
	}
}
