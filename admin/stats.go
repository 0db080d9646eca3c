package admin

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/topology"
)

// dynamicTable is a table rebuilt from the Runtime right before a
// statement that reads it.
type dynamicTable struct {
	t      *table
	schema string
	name   string
	want   Want
	fill   func(s *Stats, c *config.Config) []row
}

// dynamicTables are the runtime_* twins and the stats and monitor tables.
var dynamicTables = buildDynamicTables()

func buildDynamicTables() []dynamicTable {
	var out []dynamicTable
	for _, t := range configTables {
		conv := converters[t]
		d := dynamicTable{t: t, schema: schemaMain, name: runtimePrefix + t.name,
			fill: func(_ *Stats, c *config.Config) []row { return conv.rows(c) }}
		if t == tServers {
			d.want, d.fill = WantTopology, runtimeServers
		}
		out = append(out, d)
	}
	out = append(out, dynamicTable{t: tCollations, schema: schemaMain, name: tCollations.name, fill: collationRows},
		dynamicTable{t: tChecksums, schema: schemaMain, name: tChecksums.name, want: WantChecksums, fill: checksumRows})
	stats := []dynamicTable{
		{t: tConnPool, want: WantTopology | WantPools, fill: connPoolRows},
		{t: tConnPoolReset, want: WantTopology | WantPools, fill: connPoolRows},
		{t: tDigest, want: WantDigests, fill: digestRows},
		{t: tDigestReset, want: WantDigests, fill: digestRows},
		{t: tGlobal, want: WantGlobal, fill: func(s *Stats, _ *config.Config) []row { return counterRows(s.Global, true) }},
		{t: tPins, want: WantPins, fill: func(s *Stats, _ *config.Config) []row { return counterRows(s.Pins, false) }},
		{t: tBalance, want: WantBalance, fill: balanceRows},
		{t: tClusterNodes, want: WantCluster, fill: clusterNodeRows},
		{t: tProcesslist, want: WantSessions, fill: processRows},
		{t: tStatsUsers, want: WantSessions, fill: statsUserRows},
		{t: tRuleHits, want: WantRuleHits, fill: ruleHitRows},
		{t: tQueryCache, want: WantQueryCache, fill: func(s *Stats, _ *config.Config) []row { return counterRows(s.QueryCache, true) }},
		{t: tErrors, want: WantErrors, fill: errorRows},
		{t: tCommands, want: WantCommands, fill: commandRows},
		{t: tMemory, want: WantMemory, fill: func(s *Stats, _ *config.Config) []row { return counterRows(s.Memory, true) }},
		{t: tClusterChecksums, want: WantCluster, fill: clusterModuleRows},
		{t: tFirewallUserStats, want: WantFirewall, fill: firewallUserRows},
		{t: tFirewallDigests, want: WantFirewall, fill: firewallDigestRows},
		{t: tFreeConns, want: WantTopology | WantFreeConns, fill: freeConnRows},
	}
	for _, d := range stats {
		d.schema, d.name = schemaStats, d.t.name
		out = append(out, d)
	}
	logs := []struct {
		t    *table
		kind string
	}{{tPingLog, LogPing}, {tReadOnlyLog, LogReadOnly}, {tLagLog, LogReplicationLag}, {tGRLog, LogGroupReplication},
		{tConnectLog, LogConnect}}
	for _, l := range logs {
		kind := l.kind
		out = append(out, dynamicTable{t: l.t, schema: schemaMonitor, name: l.t.name, want: WantLogs,
			fill: func(s *Stats, _ *config.Config) []row { return logRows(kind, s.Logs[kind]) }})
	}
	return out
}

// refresh rebuilds the dynamic tables among reads (schema.table keys).
// Called with e.mu held.
func (e *engine) refresh(ctx context.Context, reads map[string]bool) error {
	var todo []dynamicTable
	var want Want
	for _, d := range dynamicTables {
		if reads[d.schema+"."+d.name] || reads[anySchema+"."+d.name] {
			todo = append(todo, d)
			want |= d.want
		}
	}
	if len(todo) == 0 {
		return nil
	}
	var st Stats
	if want != 0 {
		st = e.rt.Snapshot(want)
	}
	cfg := e.rt.Config()
	e.internal.Store(true)
	defer e.internal.Store(false)
	return inTx(ctx, e.mu.conn, func(tx *sql.Tx) error {
		for _, d := range todo {
			rows := d.fill(&st, cfg)
			if d.t == tConnPoolReset {
				rows = e.poolSinceLastReset(rows)
			}
			if err := replaceRows(ctx, tx, d.schema, d.name, "", len(d.t.cols), rows); err != nil {
				return fmt.Errorf("refresh %s: %w", d.name, err)
			}
		}
		return nil
	})
}

// backendRows lists the servers as the router sees them (the topology),
// or as configured when no topology is given, by hostgroup.
func backendRows(snap *topology.Snapshot, c *config.Config) []topology.Backend {
	if snap == nil {
		snap = topology.FromConfig(c)
	}
	hgs := make([]int, 0, len(snap.Hostgroups))
	for hg := range snap.Hostgroups {
		hgs = append(hgs, hg)
	}
	sort.Ints(hgs)
	var out []topology.Backend
	for _, hg := range hgs {
		out = append(out, snap.Hostgroups[hg]...)
	}
	return out
}

// runtimeServers fills runtime_mysql_servers from the topology: the
// status is the monitor's (SHUNNED, ...) and a server the monitor moved
// shows in its current hostgroup.
func runtimeServers(s *Stats, c *config.Config) []row {
	// The configured entry of each backend: the one of its hostgroup,
	// else (a server the monitor moved) the first with its address.
	items := make(map[string]config.Server)
	useTLS := make(map[string]bool)
	for _, sv := range c.Servers {
		useTLS[topology.Addr(sv.Host, sv.Port)] = useTLS[topology.Addr(sv.Host, sv.Port)] || sv.UseTLS
		items[strconv.Itoa(sv.Hostgroup)+"/"+topology.Addr(sv.Host, sv.Port)] = sv
		if _, ok := items[topology.Addr(sv.Host, sv.Port)]; !ok {
			items[topology.Addr(sv.Host, sv.Port)] = sv
		}
	}
	var out []row
	for _, b := range backendRows(s.Topology, c) {
		host, port := splitAddr(b.Addr)
		item, ok := items[strconv.Itoa(b.Hostgroup)+"/"+b.Addr]
		if !ok {
			item = items[b.Addr]
		}
		tls := boolInt(useTLS[b.Addr])
		out = append(out, row{int64(b.Hostgroup), host, port, string(b.State), int64(b.Weight),
			int64(b.MaxConnections), int64(b.MaxReplicationLag), item.Comment, tls,
			tls, int64(item.GTIDPort), int64(0), item.MaxLatency.Milliseconds()})
	}
	return out
}

// connPoolRows fills stats_mysql_connection_pool: one row per server and
// hostgroup. Pool counters are per server, so a server in two hostgroups
// shows the same counters twice. Latency_us is the mean query time.
func connPoolRows(s *Stats, c *config.Config) []row {
	pools := make(map[string]PoolStats, len(s.Pools))
	for _, p := range s.Pools {
		pools[p.Addr] = p
	}
	var out []row
	for _, b := range backendRows(s.Topology, c) {
		host, port := splitAddr(b.Addr)
		p := pools[b.Addr]
		var lat uint64
		if p.Queries > 0 {
			lat = p.LatencyUs / p.Queries
		}
		out = append(out, row{int64(b.Hostgroup), host, port, string(b.State), p.ConnUsed, p.ConnFree,
			int64(p.ConnOK), int64(p.ConnERR), int64(p.Queries), int64(p.BytesSent), int64(p.BytesRecv), int64(lat),
			p.MaxConnUsed, int64(p.GTIDSync)})
	}
	return out
}

// digestRows fills stats_mysql_query_digest; times are microseconds,
// first_seen and last_seen Unix seconds, as in ProxySQL.
func digestRows(s *Stats, _ *config.Config) []row {
	out := make([]row, 0, len(s.Digests))
	for _, d := range s.Digests {
		out = append(out, row{int64(d.Hostgroup), d.Schema, d.User, d.ClientAddress, digestHash(d.DigestText), d.DigestText,
			int64(d.Count), d.FirstSeen.Unix(), d.LastSeen.Unix(), int64(d.SumTimeUs), int64(d.MinTimeUs), int64(d.MaxTimeUs),
			int64(d.SumRowsAffected), int64(d.SumRowsSent)})
	}
	return out
}

// digestHash is the digest column: a stable hash of the digest text,
// formatted as ProxySQL's (0x + 16 hex digits).
func digestHash(text string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(text))
	return fmt.Sprintf("0x%016X", h.Sum64())
}

func counterRows(cs []Counter, text bool) []row {
	out := make([]row, 0, len(cs))
	for _, c := range cs {
		if text {
			out = append(out, row{c.Name, strconv.FormatInt(c.Value, 10)})
		} else {
			out = append(out, row{c.Name, c.Value})
		}
	}
	return out
}

// logRows fills one monitor log table from the monitor's entries.
func logRows(kind string, entries []LogEntry) []row {
	out := make([]row, 0, len(entries))
	for _, e := range entries {
		host, port := splitAddr(e.Addr)
		var okUs, errText any = int64(0), nil
		if e.Error == "" {
			okUs = e.Duration.Microseconds()
		} else {
			errText = e.Error
		}
		r := row{host, port, e.Time.UnixMicro(), okUs}
		switch kind {
		case LogPing, LogConnect:
		case LogReadOnly:
			r = append(r, readOnlyValue(e.Result))
		case LogReplicationLag:
			r = append(r, lagValue(e.Result))
		default:
			r = append(r, nullString(e.Result))
		}
		out = append(out, append(r, errText))
	}
	return out
}

// readOnlyValue reads 1 or 0 from a result such as "read_only=ON" (any ON
// wins), or NULL when the check read nothing.
func readOnlyValue(res string) any {
	switch {
	case strings.Contains(res, "=ON"):
		return int64(1)
	case strings.Contains(res, "=OFF"):
		return int64(0)
	}
	return nil
}

// lagValue reads the seconds from a result such as "lag=0.412s", or NULL.
func lagValue(res string) any {
	s, ok := strings.CutPrefix(res, "lag=")
	if !ok {
		return nil
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "s"), 64)
	if err != nil {
		return nil
	}
	return f
}

// splitAddr splits host:port; the port is 0 when it does not parse.
func splitAddr(addr string) (string, int64) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	n, _ := strconv.ParseInt(p, 10, 64)
	return host, n
}

// clusterTime renders a cluster timestamp ("" for the zero time).
func clusterTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05.000")
}

func clusterNodeRows(s *Stats, _ *config.Config) []row {
	out := make([]row, 0, len(s.ClusterNodes))
	for _, n := range s.ClusterNodes {
		local := 0
		if n.Local {
			local = 1
		}
		out = append(out, row{n.Name, n.Addr, n.State, clusterTime(n.LastSeen), local})
	}
	return out
}

func clusterModuleRows(s *Stats, _ *config.Config) []row {
	out := make([]row, 0, len(s.ClusterModules))
	for _, m := range s.ClusterModules {
		out = append(out, row{m.Node, m.Module, int64(m.Version), m.Checksum, m.Origin, clusterTime(m.AppliedAt), m.Status, m.Reason})
	}
	return out
}

func balanceRows(s *Stats, _ *config.Config) []row {
	out := make([]row, 0, len(s.Balance))
	for _, b := range s.Balance {
		host, port := splitAddr(b.Addr)
		out = append(out, row{int64(b.Hostgroup), host, port, b.Algorithm, int64(b.Weight), b.EffectiveWeight,
			b.Outstanding, b.LatencyUs})
	}
	return out
}
