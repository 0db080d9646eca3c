package cluster

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rwproxy/rwproxy/config"
)

// Shared module names. A module is the unit that is versioned, announced,
// fetched and adopted as a whole, like ProxySQL's cluster modules.
const (
	// ModuleServers: servers, replication_hostgroups,
	// group_replication_hostgroups and hostgroup_attributes
	// (LOAD MYSQL SERVERS).
	ModuleServers = "servers"
	// ModuleUsers: users (LOAD MYSQL USERS).
	ModuleUsers = "users"
	// ModuleQueryRules: query_rules (LOAD MYSQL QUERY RULES).
	ModuleQueryRules = "query_rules"
	// ModuleVariables: the settings LOAD MYSQL VARIABLES applies
	// (max_connections, shutdown_timeout, reader_fallback,
	// failover_buffer, pool.*, monitor.*); see variablesModule.
	ModuleVariables = "variables"
)

// moduleNames lists the shared modules in their fixed order.
var moduleNames = [...]string{ModuleServers, ModuleUsers, ModuleQueryRules, ModuleVariables}

// ModuleNames returns the shared modules' names in a fixed order.
func ModuleNames() []string { return append([]string(nil), moduleNames[:]...) }

func knownModule(name string) bool {
	for _, m := range moduleNames {
		if m == name {
			return true
		}
	}
	return false
}

// serversModule is the payload of ModuleServers.
type serversModule struct {
	Servers                    []config.Server
	ReplicationHostgroups      []config.ReplicationHostgroup
	GroupReplicationHostgroups []config.GroupReplicationHostgroup
	HostgroupAttributes        []config.HostgroupAttributes
}

// variablesModule is the payload of ModuleVariables: exactly the scalar
// settings the admin's LOAD MYSQL VARIABLES applies. Node identity
// (listen, server_version, admin.*, log.*, cluster.*) is deliberately
// absent; TestEveryConfigFieldIsClassified keeps this list honest when
// Config grows.
type variablesModule struct {
	MaxConnections  int
	ShutdownTimeout time.Duration
	ReaderFallback  string
	FailoverBuffer  time.Duration
	QueryTimeout    time.Duration
	Pool            config.Pool
	// Replay is the transaction_replay settings; omitted when at their
	// defaults, so that a node of an earlier version (which does not know
	// them) still accepts this module from a node left at the defaults.
	Replay  *replaySettings `json:",omitempty"`
	Monitor config.Monitor

	QueryCacheSizeMB int
	// Firewall is omitted when unset, so that the module encodes as it
	// did before the firewall existed: peers of the previous version keep
	// accepting it (they decode strictly) until a firewall is configured.
	Firewall config.Firewall `json:",omitzero"`
}

// encoded is one module of one configuration in canonical form.
type encoded struct {
	payload  []byte // canonical JSON
	checksum string // hex SHA-256 of payload
}

// encodeModules returns every module of c in canonical form. Equal
// settings give equal bytes whatever their spelling in c: c is first
// normalised (see normalize).
func encodeModules(c *config.Config) map[string]encoded {
	n := normalize(c)
	out := make(map[string]encoded, len(moduleNames))
	for _, m := range moduleNames {
		raw, err := json.Marshal(extract(n, m))
		if err != nil {
			// Config holds only JSON-safe types; a failure is a programming error.
			panic(fmt.Sprintf("cluster: encode module %s: %v", m, err))
		}
		out[m] = encoded{payload: raw, checksum: checksum(raw)}
	}
	return out
}

func checksum(payload []byte) string {
	sum := sha256.Sum256(payload)
	return hex.EncodeToString(sum[:])
}

// extract returns module m of the normalised configuration n.
func extract(n *config.Config, m string) any {
	switch m {
	case ModuleServers:
		return serversModule{Servers: n.Servers, ReplicationHostgroups: n.ReplicationHostgroups,
			GroupReplicationHostgroups: n.GroupReplicationHostgroups, HostgroupAttributes: n.HostgroupAttributes}
	case ModuleUsers:
		return n.Users
	case ModuleQueryRules:
		return n.QueryRules
	case ModuleVariables:
		return variablesModule{MaxConnections: n.MaxConnections, ShutdownTimeout: n.ShutdownTimeout,
			ReaderFallback: n.ReaderFallback, FailoverBuffer: n.FailoverBuffer, QueryTimeout: n.QueryTimeout,
			QueryCacheSizeMB: n.QueryCacheSizeMB, Pool: n.Pool, Monitor: n.Monitor, Replay: replayOf(n), Firewall: n.Firewall}
	}
	panic("cluster: unknown module " + m)
}

// normalize returns a copy of c in which equivalent spellings of the same
// setting are made equal: per-item defaults filled in, nil lists empty,
// active=true written as absent, the default auth plugin as empty. A
// configuration loaded from YAML and the same one read back from the
// admin's tables then have the same checksums.
func normalize(c *config.Config) *config.Config {
	n := c.Clone()
	n.FillDefaults()
	n.Servers = orEmpty(n.Servers)
	n.ReplicationHostgroups = orEmpty(n.ReplicationHostgroups)
	n.GroupReplicationHostgroups = orEmpty(n.GroupReplicationHostgroups)
	n.HostgroupAttributes = orEmpty(n.HostgroupAttributes)
	n.Users = orEmpty(n.Users)
	n.QueryRules = orEmpty(n.QueryRules)
	if len(n.Firewall.Users) == 0 && len(n.Firewall.Allow) == 0 {
		n.Firewall = config.Firewall{} // encoded as absent (see variablesModule)
	}
	for i := range n.Users {
		u := &n.Users[i]
		if u.Active != nil && *u.Active {
			u.Active = nil
		}
		if u.AuthPlugin == config.AuthNativePassword {
			u.AuthPlugin = ""
		}
	}
	for i := range n.GroupReplicationHostgroups {
		g := &n.GroupReplicationHostgroups[i]
		if g.Active != nil && *g.Active {
			g.Active = nil
		}
	}
	return n
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// install replaces module m of c (a private copy) with payload, decoded
// strictly: a field this node does not know (a newer peer) is an error,
// since dropping it would make the module's checksum differ from the
// version it claims to run.
func install(c *config.Config, m string, payload []byte) error {
	switch m {
	case ModuleServers:
		var s serversModule
		if err := decodeStrict(payload, &s); err != nil {
			return err
		}
		c.Servers, c.ReplicationHostgroups = s.Servers, s.ReplicationHostgroups
		c.GroupReplicationHostgroups, c.HostgroupAttributes = s.GroupReplicationHostgroups, s.HostgroupAttributes
	case ModuleUsers:
		return decodeStrict(payload, &c.Users)
	case ModuleQueryRules:
		return decodeStrict(payload, &c.QueryRules)
	case ModuleVariables:
		var v variablesModule
		if err := decodeStrict(payload, &v); err != nil {
			return err
		}
		c.MaxConnections, c.ShutdownTimeout, c.ReaderFallback = v.MaxConnections, v.ShutdownTimeout, v.ReaderFallback
		c.FailoverBuffer, c.QueryTimeout, c.Pool, c.Monitor = v.FailoverBuffer, v.QueryTimeout, v.Pool, v.Monitor
		v.Replay.install(c)
		c.QueryCacheSizeMB = v.QueryCacheSizeMB
		c.Firewall = v.Firewall
	default:
		return fmt.Errorf("unknown module %q", m)
	}
	return nil
}

func decodeStrict(payload []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if dec.More() {
		return errors.New("decode: trailing data after the payload")
	}
	return nil
}

// withModules returns a copy of cur with the records' modules installed.
// It checks that each installed module encodes back to the record's
// checksum, so that this node never runs a module under a version whose
// content it does not hold (which would make it re-publish the module as
// a local change).
func withModules(cur *config.Config, recs []Record) (*config.Config, error) {
	next := cur.Clone()
	for _, r := range recs {
		if err := install(next, r.Module, r.Payload); err != nil {
			return nil, fmt.Errorf("module %s version %d from %s: %w", r.Module, r.Version, r.Origin, err)
		}
	}
	got := encodeModules(next)
	for _, r := range recs {
		if got[r.Module].checksum != r.Checksum {
			return nil, fmt.Errorf("module %s version %d from %s does not round-trip on this node "+
				"(nodes running different rwproxy versions?)", r.Module, r.Version, r.Origin)
		}
	}
	return next, nil
}

// ModuleChecksums returns the checksum of each module of c, as peers
// compare them (hex SHA-256 of the canonical JSON), by module name.
func ModuleChecksums(c *config.Config) map[string]string {
	out := make(map[string]string, len(moduleNames))
	for m, e := range encodeModules(c) {
		out[m] = e.checksum
	}
	return out
}
