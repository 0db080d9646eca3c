package config

import (
	"testing"
	"time"
)

// validConfig returns a small valid configuration: one writer (hostgroup 10)
// and two readers (hostgroup 20) paired by a replication hostgroup, with
// every per-item default written out.
func validConfig(t *testing.T) *Config {
	t.Helper()
	c := Defaults()
	c.Users = []User{{Username: "app", Password: "app", DefaultHostgroup: 10,
		Consistency: ConsistencyEventual, ConsistencyScope: ScopeUser, ReadYourWritesTimeout: time.Second}}
	c.Servers = []Server{
		{Hostgroup: 10, Host: "127.0.0.1", Port: 3316, Weight: 1, Status: StatusOnline, MaxConnections: 200},
		{Hostgroup: 20, Host: "127.0.0.1", Port: 3317, Weight: 1, Status: StatusOnline, MaxConnections: 1000, MaxReplicationLag: 10},
		{Hostgroup: 20, Host: "127.0.0.1", Port: 3318, Weight: 1, Status: StatusOnline, MaxConnections: 1000, MaxReplicationLag: 10},
	}
	c.ReplicationHostgroups = []ReplicationHostgroup{{WriterHostgroup: 10, ReaderHostgroup: 20, CheckType: CheckReadOnly}}
	return c
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }

// user returns a valid user of hostgroup 10 with the per-item defaults.
func user(name string) User {
	return User{Username: name, Password: name + "-pw", DefaultHostgroup: 10,
		Consistency: DefaultConsistency, ConsistencyScope: DefaultConsistencyScope, ReadYourWritesTimeout: DefaultReadYourWritesTimeout}
}
