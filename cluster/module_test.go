package cluster

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
)

// nodeLocal are the configuration keys that are never shared: node
// identity, settings that only make sense per node (certificate files,
// listeners), and settings that LOAD MYSQL VARIABLES does not apply
// (http, tls, limits are not admin variables; move a key to
// variablesModule when the admin interface makes it one).
var nodeLocal = []string{
	"config_source", "listen", "server_version", "threads", "log", "admin", "cluster", "http", "tls", "limits", "scheduler", "tracing",
}

// TestEveryConfigFieldIsClassified: each Config field is either in a
// shared module or deliberately node-local, so that a key added to
// Config must be placed (and a shared key is never reload:"restart",
// which Store.Merge would silently keep at the local value).
func TestEveryConfigFieldIsClassified(t *testing.T) {
	base := testConfig(t)
	before := encodeModules(base)
	ty := reflect.TypeFor[config.Config]()
	for i := range ty.NumField() {
		f := ty.Field(i)
		key := strings.Split(f.Tag.Get("mapstructure"), ",")[0]
		changed := mutate(t, base, i)
		after := encodeModules(changed)
		var in []string
		for _, m := range moduleNames {
			if after[m].checksum != before[m].checksum {
				in = append(in, m)
			}
		}
		local := contains(nodeLocal, key)
		switch {
		case local:
			require.Empty(t, in, "%s is node-local but changes module(s) %v", key, in)
		default:
			require.Len(t, in, 1, "%s is in no shared module and not listed as node-local", key)
			require.NotEqual(t, "restart", f.Tag.Get("reload"), "shared key %s needs a restart", key)
		}
	}
}

// mutate returns a copy of c with field i of Config changed (for
// structs, every leaf field).
func mutate(t *testing.T, c *config.Config, i int) *config.Config {
	t.Helper()
	out := c.Clone()
	v := reflect.ValueOf(out).Elem().Field(i)
	changeValue(t, v)
	return out
}

func changeValue(t *testing.T, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Int, reflect.Int64:
		v.SetInt(v.Int() + 7)
	case reflect.Float64:
		v.SetFloat(v.Float() + 7)
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Struct:
		for j := range v.NumField() {
			changeValue(t, v.Field(j))
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.Append(v, reflect.New(v.Type().Elem()).Elem()))
		} else {
			changeValue(t, v.Index(0))
		}
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		changeValue(t, v.Elem())
	default:
		t.Fatalf("unhandled kind %s", v.Kind())
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// TestChecksumIgnoresSpelling: nil or empty lists, active spelled out,
// the default auth plugin named, per-item defaults left out: same
// checksums. A real change is a different checksum in its module only.
func TestChecksumIgnoresSpelling(t *testing.T) {
	a := testConfig(t)
	b := a.Clone()
	yes := true
	b.Users[0].Active = &yes
	b.Users[0].AuthPlugin = config.AuthNativePassword
	b.QueryRules, a.QueryRules = nil, []config.QueryRule{}
	b.HostgroupAttributes = nil
	b.Servers[1].MaxConnections = 0 // filled with the default
	require.Equal(t, encodeModules(a), encodeModules(b))

	b.Users[0].Password = "other"
	ea, eb := encodeModules(a), encodeModules(b)
	for _, m := range moduleNames {
		require.Equal(t, m == ModuleUsers, ea[m].checksum != eb[m].checksum, m)
	}
	require.NotContains(t, string(eb[ModuleServers].payload), "other", "no module leaks another's content")
}

// TestInstallRoundTrip: installing a module's payload into another
// configuration gives that module the same checksum, and leaves the other
// modules and node-local fields alone.
func TestInstallRoundTrip(t *testing.T) {
	src := testConfig(t)
	src.Servers[2].Weight = 9
	dest := 10
	src.QueryRules = []config.QueryRule{{RuleID: 1, Active: true, MatchDigest: "x", DestinationHostgroup: &dest}}
	src.Pool.MaxIdle, src.Monitor.LagWeightDecay, src.FailoverBuffer = 3, true, time.Second
	src.QueryTimeout = 1500 * time.Millisecond
	src.Users = append(src.Users, config.User{Username: "u2", Password: "p", DefaultHostgroup: 20,
		Consistency: config.ConsistencyReadYourWrites, ReadYourWritesTimeout: 2 * time.Second})
	enc := encodeModules(src)

	for _, m := range moduleNames {
		into := testConfig(t)
		into.Listen, into.Cluster.NodeName = "10.1.1.1:6033", "other"
		before := encodeModules(into)
		r := Record{Module: m, Version: 1, Origin: "a", Checksum: enc[m].checksum, Payload: enc[m].payload}
		got, err := withModules(into, []Record{r})
		require.NoError(t, err, m)
		after := encodeModules(got)
		for _, o := range moduleNames {
			if o == m {
				require.Equal(t, enc[m].checksum, after[o].checksum, m)
			} else {
				require.Equal(t, before[o].checksum, after[o].checksum, "%s changed installing %s", o, m)
			}
		}
		require.Equal(t, "10.1.1.1:6033", got.Listen)
		require.Equal(t, "other", got.Cluster.NodeName)
		require.NoError(t, got.Validate())
	}
}

// TestInstallRefusesUnknownFields: a payload from a newer rwproxy with a
// field this node does not know is refused, not silently truncated.
func TestInstallRefusesUnknownFields(t *testing.T) {
	payload := []byte(`[{"Username":"app","Password":"app","DefaultHostgroup":10,"Future":1}]`)
	_, err := withModules(testConfig(t), []Record{{Module: ModuleUsers, Version: 1, Origin: "a",
		Checksum: checksum(payload), Payload: payload}})
	require.ErrorContains(t, err, `unknown field "Future"`)

	// A payload that decodes but is not in canonical form would run under
	// a checksum it does not have: refused.
	payload = []byte(`[{"Username":"app","Password":"app","DefaultHostgroup":10}]`)
	_, err = withModules(testConfig(t), []Record{{Module: ModuleUsers, Version: 1, Origin: "a",
		Checksum: checksum(payload), Payload: payload}})
	require.ErrorContains(t, err, "does not round-trip")

	_, err = withModules(testConfig(t), []Record{{Module: ModuleUsers, Payload: []byte(`[] []`)}})
	require.ErrorContains(t, err, "trailing data")
}
