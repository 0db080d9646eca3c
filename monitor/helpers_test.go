package monitor

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/topology"
)

// Node addresses used by the pure tests.
const (
	n1 = "10.0.0.1:3306"
	n2 = "10.0.0.2:3306"
	n3 = "10.0.0.3:3306"
)

// srv is a servers[] item on 10.0.0.N:3306.
func srv(hg, n int, mods ...func(*config.Server)) config.Server {
	s := config.Server{Hostgroup: hg, Host: fmt.Sprintf("10.0.0.%d", n), Port: 3306, Weight: 1,
		Status: config.StatusOnline, MaxConnections: 100}
	for _, m := range mods {
		m(&s)
	}
	return s
}

func maxLag(n int) func(*config.Server) { return func(s *config.Server) { s.MaxReplicationLag = n } }
func weight(n int) func(*config.Server) { return func(s *config.Server) { s.Weight = n } }

// asyncCfg is the classic pair: n1 writer (hg 10), n2 and n3 readers (hg 20)
// with max_replication_lag 10.
func asyncCfg() *config.Config {
	c := config.Defaults()
	c.Users = []config.User{{Username: "app", Password: "app", DefaultHostgroup: 10}}
	c.Servers = []config.Server{srv(10, 1), srv(20, 2, maxLag(10)), srv(20, 3, maxLag(10))}
	c.ReplicationHostgroups = []config.ReplicationHostgroup{{WriterHostgroup: 10, ReaderHostgroup: 20}}
	c.FillDefaults()
	return c
}

// grCfg is one group replication cluster of n1..n3 on hostgroups 30-33,
// all configured in the writer hostgroup.
func grCfg(mod func(*config.GroupReplicationHostgroup)) *config.Config {
	c := config.Defaults()
	c.Users = []config.User{{Username: "app", Password: "app", DefaultHostgroup: 30}}
	c.Servers = []config.Server{srv(30, 1, maxLag(10)), srv(30, 2, maxLag(10)), srv(30, 3, maxLag(10))}
	g := config.GroupReplicationHostgroup{WriterHostgroup: 30, BackupWriterHostgroup: 31,
		ReaderHostgroup: 32, OfflineHostgroup: 33, MaxWriters: 1}
	if mod != nil {
		mod(&g)
	}
	c.GroupReplicationHostgroups = []config.GroupReplicationHostgroup{g}
	c.FillDefaults()
	return c
}

// testTime is the fixed clock of the pure tests.
var testTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// errAccess is a server error as a check would get it.
var errAccess = &mysql.MyError{Code: 1142, State: "42000", Message: "SELECT command denied"}

// hs builds a health map.
type hs map[string]*health

// healthWith returns a fresh health changed by mods.
func healthWith(mods ...func(*health)) *health {
	h := newHealth()
	for _, m := range mods {
		m(h)
	}
	return h
}

func readOnly(on bool) func(*health) {
	return func(h *health) { h.observeReadOnly(map[string]bool{"read_only": on}, nil) }
}

func pingDown(h *health) {
	for range 5 {
		h.observePing(fmt.Errorf("connect: refused"), 0, testTime, 2)
	}
}

func lagShunned(hg int, lag float64) func(*health) {
	return func(h *health) {
		for range 3 {
			h.observeLag(lagSample{lag: lag, reason: "Seconds_Behind_Master is NULL"}, testTime,
				map[int]int{hg: 10}, 2, 3)
		}
	}
}

// member returns a group replication answer for a group of total members
// of which viable are ONLINE or RECOVERING.
func member(role, state string, viable, total int) func(*health) {
	return member2(&grMember{role: role, state: state, viable: viable, total: total, applyLag: 0})
}

func member2(m *grMember) func(*health) {
	return func(h *health) {
		h.observeGR(m, nil, testTime, grPolicy{lagShunAfter: 2, lagUnshunAfter: 3})
	}
}

// layout renders a snapshot as hostgroup → "addr STATE" in order, with the
// short node names n1..n3.
func layout(s *topology.Snapshot) map[int][]string {
	out := make(map[int][]string)
	for hg, bs := range s.Hostgroups {
		for _, b := range bs {
			name := strings.TrimSuffix(strings.TrimPrefix(b.Addr, "10.0.0."), ":3306")
			out[hg] = append(out[hg], "n"+name+" "+string(b.State))
		}
	}
	return out
}

func backendOf(s *topology.Snapshot, hg int, addr string) (topology.Backend, bool) {
	i := slices.IndexFunc(s.Hostgroups[hg], func(b topology.Backend) bool { return b.Addr == addr })
	if i < 0 {
		return topology.Backend{}, false
	}
	return s.Hostgroups[hg][i], true
}
