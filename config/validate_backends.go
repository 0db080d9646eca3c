package config

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// validServerStatuses are the accepted servers[].status values.
var validServerStatuses = []string{StatusOnline, StatusOfflineSoft, StatusOfflineHard}

// validAuthPlugins are the accepted non-empty users[].auth_plugin values.
var validAuthPlugins = []string{AuthNativePassword, AuthCachingSha2}

// validConsistencies are the accepted users[].consistency values.
var validConsistencies = []string{ConsistencyEventual, ConsistencyReadYourWrites}

// validScopes are the accepted users[].consistency_scope values.
var validScopes = []string{ScopeUser, ScopeSession}

// validBalances are the accepted hostgroup_attributes[].balance values.
var validBalances = []string{BalanceWeightedRoundRobin, BalanceLeastOutstanding, BalanceAdaptive}

// validAffinities are the accepted hostgroup_attributes[].affinity values.
var validAffinities = []string{AffinityStatement, AffinitySession}

// validCheckTypes are the accepted replication_hostgroups[].check_type values.
var validCheckTypes = []string{CheckReadOnly, CheckSuperReadOnly, CheckInnodbReadOnly,
	CheckReadOnlyOrInnodb, CheckReadOnlyAndInnodb}

// validateServers checks every server and returns the set of hostgroups
// that hold at least one server.
func (c *Config) validateServers(p *problems) map[int]bool {
	withServers := make(map[int]bool)
	type key struct {
		hostgroup int
		host      string
		port      int
	}
	seen := make(map[key]int)
	for i, s := range c.Servers {
		path := fmt.Sprintf("servers[%d]", i)
		if s.Hostgroup < 0 {
			p.add(path+".hostgroup", "%d must be >= 0", s.Hostgroup)
		}
		p.nonEmpty(path+".host", s.Host)
		if s.Port < 1 || s.Port > 65535 {
			p.add(path+".port", "%d is not a valid port (1-65535)", s.Port)
		}
		if s.Weight < 0 {
			p.add(path+".weight", "%d must be >= 0", s.Weight)
		}
		p.oneOf(path+".status", s.Status, validServerStatuses)
		if s.MaxConnections <= 0 {
			p.add(path+".max_connections", "%d must be > 0", s.MaxConnections)
		}
		if s.MaxReplicationLag < 0 {
			p.add(path+".max_replication_lag", "%d must be >= 0 (0 disables the check)", s.MaxReplicationLag)
		}
		k := key{s.Hostgroup, s.Host, s.Port}
		if j, dup := seen[k]; dup {
			p.add(path, "duplicate of servers[%d] (hostgroup %d, %s:%d)", j, s.Hostgroup, s.Host, s.Port)
			continue
		}
		seen[k] = i
		withServers[s.Hostgroup] = true
	}
	return withServers
}

// validateUsers checks the frontend users; withServers is the set of
// hostgroups that hold at least one server.
func (c *Config) validateUsers(p *problems, withServers map[int]bool) {
	if len(c.Users) == 0 {
		p.add("users", "at least one user is required")
	}
	seen := make(map[string]int)
	for i, u := range c.Users {
		path := fmt.Sprintf("users[%d]", i)
		if u.Username == "" {
			p.add(path+".username", "must not be empty")
		} else if j, dup := seen[u.Username]; dup {
			p.add(path+".username", "%q is a duplicate of users[%d]", u.Username, j)
		} else {
			seen[u.Username] = i
		}
		if !withServers[u.DefaultHostgroup] {
			p.add(path+".default_hostgroup", "hostgroup %d has no servers", u.DefaultHostgroup)
		}
		if u.MaxConnections < 0 {
			p.add(path+".max_connections", "%d must be >= 0 (0 = no cap)", u.MaxConnections)
		}
		if u.AuthPlugin != "" {
			p.oneOf(path+".auth_plugin", u.AuthPlugin, validAuthPlugins)
		}
		p.oneOf(path+".consistency", u.Consistency, validConsistencies)
		if u.ConsistencyScope != "" { // empty means user: configs from older versions (cluster peers) lack it
			p.oneOf(path+".consistency_scope", u.ConsistencyScope, validScopes)
		}
		// Checked whatever the consistency, so that switching a user to
		// read_your_writes at runtime cannot expose an unchecked value.
		switch t := u.ReadYourWritesTimeout; {
		case t <= 0:
			p.positive(path+".read_your_writes_timeout", t)
		case t > MaxReadYourWritesTimeout:
			p.add(path+".read_your_writes_timeout", "%s must be <= %s", t, MaxReadYourWritesTimeout)
		}
		p.timeout(path+".query_timeout", u.QueryTimeout)
	}
}

// validateReplication checks the writer/reader pairs and returns every
// known hostgroup: those with servers plus those named in a pair (a reader
// hostgroup may start empty and be filled by the monitor).
func (c *Config) validateReplication(p *problems, withServers map[int]bool) map[int]bool {
	known := make(map[int]bool, len(withServers))
	for hg := range withServers {
		known[hg] = true
	}
	inPair := make(map[int]int) // hostgroup → index of the pair that uses it
	for i, rh := range c.ReplicationHostgroups {
		path := fmt.Sprintf("replication_hostgroups[%d]", i)
		if rh.WriterHostgroup == rh.ReaderHostgroup {
			p.add(path, "writer_hostgroup and reader_hostgroup are both %d", rh.WriterHostgroup)
		}
		for _, f := range []struct {
			name string
			hg   int
		}{{"writer_hostgroup", rh.WriterHostgroup}, {"reader_hostgroup", rh.ReaderHostgroup}} {
			switch j, used := inPair[f.hg]; {
			case f.hg < 0:
				p.add(path+"."+f.name, "%d must be >= 0", f.hg)
			case used && j != i:
				p.add(path+"."+f.name, "hostgroup %d is already used by replication_hostgroups[%d]", f.hg, j)
			default:
				inPair[f.hg] = i
				known[f.hg] = true
			}
		}
		p.oneOf(path+".check_type", rh.CheckType, validCheckTypes)
	}
	return known
}

// validateGroupReplication checks the group replication entries and adds
// their hostgroups to known. Each hostgroup belongs to at most one entry
// (or replication pair): a server's placement must have one owner.
func (c *Config) validateGroupReplication(p *problems, known map[int]bool) {
	inPair := make(map[int]bool)
	for _, rh := range c.ReplicationHostgroups {
		inPair[rh.WriterHostgroup] = true
		inPair[rh.ReaderHostgroup] = true
	}
	owner := make(map[int]int) // hostgroup → index of the entry that uses it
	names := [4]string{"writer_hostgroup", "backup_writer_hostgroup", "reader_hostgroup", "offline_hostgroup"}
	for i, g := range c.GroupReplicationHostgroups {
		path := fmt.Sprintf("group_replication_hostgroups[%d]", i)
		hgs := g.Hostgroups()
		for k, hg := range hgs {
			j, used := owner[hg]
			switch {
			case hg < 0:
				p.add(path+"."+names[k], "%d must be >= 0", hg)
			case used && j == i:
				p.add(path+"."+names[k], "hostgroup %d is already this entry's %s", hg, names[indexOf(hgs[:k], hg)])
			case used:
				p.add(path+"."+names[k], "hostgroup %d is already used by group_replication_hostgroups[%d]", hg, j)
			case inPair[hg]:
				p.add(path+"."+names[k], "hostgroup %d is already used by replication_hostgroups", hg)
			default:
				owner[hg] = i
				known[hg] = true
			}
		}
		if g.MaxWriters < 1 {
			p.add(path+".max_writers", "%d must be >= 1", g.MaxWriters)
		}
		if g.WriterIsAlsoReader < 0 || g.WriterIsAlsoReader > 2 {
			p.add(path+".writer_is_also_reader", "%d is not one of 0, 1, 2", g.WriterIsAlsoReader)
		}
		if g.MaxTransactionsBehind < 0 {
			p.add(path+".max_transactions_behind", "%d must be >= 0 (0 disables the check)", g.MaxTransactionsBehind)
		}
	}
}

// indexOf returns the index of v in s, or -1.
func indexOf(s []int, v int) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// validateQueryRules checks rule ids, regexps and destinations; known is
// the set of hostgroups a rule may route to.
func (c *Config) validateQueryRules(p *problems, known map[int]bool) {
	seen := make(map[int]int)
	for i, r := range c.QueryRules {
		path := fmt.Sprintf("query_rules[%d]", i)
		if r.RuleID <= 0 {
			p.add(path+".rule_id", "%d must be > 0", r.RuleID)
		} else if j, dup := seen[r.RuleID]; dup {
			p.add(path+".rule_id", "%d is a duplicate of query_rules[%d]", r.RuleID, j)
		} else {
			seen[r.RuleID] = i
		}
		p.regexp(path+".match_digest", r.MatchDigest)
		p.regexp(path+".match_pattern", r.MatchPattern)
		if d := r.DestinationHostgroup; d != nil && !known[*d] {
			p.add(path+".destination_hostgroup", "%d is not a known hostgroup (none of servers or replication_hostgroups names it)", *d)
		}
		p.timeout(path+".timeout", r.Timeout)
		p.validateRuleExtras(path, r, known)
		validateRuleCache(p, path, r)
	}
}

// MaxQueryCacheSizeMB bounds query_cache_size_mb (1 TiB).
const MaxQueryCacheSizeMB = 1 << 20

// validateRuleCache checks a rule's query cache keys: whole milliseconds,
// not negative, a cache_timeout only with a cache_ttl.
func validateRuleCache(p *problems, path string, r QueryRule) {
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"cache_ttl", r.CacheTTL}, {"cache_timeout", r.CacheTimeout}} {
		switch {
		case d.v < 0:
			p.add(path+"."+d.key, "%s must be >= 0 (0 = not set)", d.v)
		case d.v%time.Millisecond != 0:
			p.add(path+"."+d.key, "%s must be a whole number of milliseconds", d.v)
		}
	}
	if r.CacheTimeout > 0 && r.CacheTTL <= 0 {
		p.add(path+".cache_timeout", "is set but cache_ttl is not: the rule caches nothing to wait for")
	}
	if r.CacheTTL > 0 && r.ErrorMsg != "" {
		p.add(path+".cache_ttl", "is set on a rule with error_msg: its statements never run, nothing is cached")
	}
}

// regexp checks that a non-empty pattern compiles with Go's RE2 syntax.
func (p *problems) regexp(path, pattern string) {
	if pattern == "" {
		return
	}
	if _, err := regexp.Compile(pattern); err != nil {
		p.add(path, "%s is not a valid regular expression: %v", strconv.Quote(pattern), err)
	}
}

// validateHostgroupAttributes checks the per-hostgroup settings; withServers
// is the set of hostgroups that hold at least one server.
func (c *Config) validateHostgroupAttributes(p *problems, withServers map[int]bool) {
	seen := make(map[int]int)
	for i, a := range c.HostgroupAttributes {
		path := fmt.Sprintf("hostgroup_attributes[%d]", i)
		switch j, dup := seen[a.HostgroupID]; {
		case !withServers[a.HostgroupID]:
			p.add(path+".hostgroup_id", "hostgroup %d has no servers", a.HostgroupID)
		case dup:
			p.add(path+".hostgroup_id", "hostgroup %d is a duplicate of hostgroup_attributes[%d]", a.HostgroupID, j)
		default:
			seen[a.HostgroupID] = i
		}
		p.oneOf(path+".balance", a.Balance, validBalances)
		if a.Affinity != "" { // "": statement (configurations made before the key existed)
			p.oneOf(path+".affinity", a.Affinity, validAffinities)
		}
	}
}
