package config

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
)

// fullConfig sets every slice and pointer field so Clone has work to do.
func fullConfig(t *testing.T) *Config {
	t.Helper()
	c := validConfig(t)
	c.Users[0].Active = ptr(true)
	c.QueryRules = []QueryRule{{RuleID: 1, Active: true, MatchDigest: "^SELECT", DestinationHostgroup: ptr(20)}}
	c.HostgroupAttributes = []HostgroupAttributes{{HostgroupID: 20, Balance: BalanceLeastOutstanding}}
	c.GroupReplicationHostgroups = []GroupReplicationHostgroup{{WriterHostgroup: 30, BackupWriterHostgroup: 31,
		ReaderHostgroup: 32, OfflineHostgroup: 33, Active: ptr(true), MaxWriters: 1}}
	c.Cluster.Join = []string{"10.0.0.1:7946"}
	return c
}

func TestCloneIsIndependent(t *testing.T) {
	orig := fullConfig(t)
	want := fullConfig(t)
	c := orig.Clone()
	require.Equal(t, orig, c)

	c.Listen = "0.0.0.0:1"
	c.Pool.MaxIdle = 1
	c.Users[0].Username = "other"
	*c.Users[0].Active = false
	c.Users = append(c.Users, User{Username: "x"})
	c.Servers[0].Port = 1
	c.ReplicationHostgroups[0].CheckType = CheckSuperReadOnly
	c.HostgroupAttributes[0].Balance = BalanceWeightedRoundRobin
	c.QueryRules[0].MatchDigest = "changed"
	*c.QueryRules[0].DestinationHostgroup = 99
	c.Cluster.Join[0] = "changed:1"
	c.GroupReplicationHostgroups[0].MaxWriters = 5
	*c.GroupReplicationHostgroups[0].Active = false

	require.Equal(t, want, orig)
}

func TestCloneNil(t *testing.T) {
	var c *Config
	require.Nil(t, c.Clone())
	empty := &Config{}
	require.Equal(t, empty, empty.Clone())
	require.Nil(t, empty.Clone().Users, "a nil slice stays nil")
}

// TestCloneSharesNoMemory walks the clone and the original in parallel and
// fails on any slice or pointer they share: it catches a field added to
// Config later without a matching line in Clone.
func TestCloneSharesNoMemory(t *testing.T) {
	orig := fullConfig(t)
	assertDisjoint(t, "config", reflect.ValueOf(orig).Elem(), reflect.ValueOf(orig.Clone()).Elem())
}

func assertDisjoint(t *testing.T, path string, a, b reflect.Value) {
	t.Helper()
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() {
			return
		}
		require.NotEqual(t, a.Pointer(), b.Pointer(), "%s is shared", path)
		assertDisjoint(t, path, a.Elem(), b.Elem())
	case reflect.Slice:
		if a.Len() == 0 {
			return
		}
		require.NotEqual(t, a.Pointer(), b.Pointer(), "%s is shared", path)
		for i := range a.Len() {
			assertDisjoint(t, path+"[i]", a.Index(i), b.Index(i))
		}
	case reflect.Map:
		require.True(t, a.IsNil(), "%s: maps are not cloned yet", path)
	case reflect.Struct:
		for i := range a.NumField() {
			assertDisjoint(t, path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i))
		}
	}
}
