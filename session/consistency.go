package session

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/pool"
)

// gtidPos is a merged GTID position: for each replication domain (MariaDB
// domain id; MySQL source uuid, with its tag when it has one) the highest
// sequence number seen. It is immutable once built, so that a pointer to
// it can be shared through an atomic.Pointer.
//
// Keeping only the highest number per domain is what bounds the memory of
// a user's position whatever it writes. It relies on each domain being
// applied in order on a replica: true of MariaDB domains, and of MySQL
// replicas with replica_preserve_commit_order (the default since 8.0.27,
// and required by Group Replication's parallel applier). Waiting for the
// single highest GTID (not "uuid:1-N") matters on Group Replication,
// whose GTID sets have gaps (blocks reserved for other members).
type gtidPos struct {
	doms []gtidDom
}

type gtidDom struct {
	dom    string // MariaDB domain id, or MySQL "uuid" / "uuid:tag"
	server string // MariaDB: the server id of the highest GTID; "" for MySQL
	seq    uint64
}

// mysql reports a MySQL GTID position (else MariaDB).
func (p *gtidPos) mysql() bool { return len(p.doms) > 0 && p.doms[0].server == "" }

// parseGTIDs parses a GTID set as a server reports it: MariaDB
// "0-1-42,1-2-7" or MySQL "uuid:1-5:7,uuid2:tag:3". It returns nil when
// nothing in it is a GTID.
func parseGTIDs(set string) *gtidPos {
	var p *gtidPos
	for _, g := range strings.Split(set, ",") {
		g = strings.TrimSpace(g)
		if g == "" {
			continue
		}
		if !strings.Contains(g, ":") {
			f := strings.Split(g, "-")
			if len(f) != 3 {
				continue
			}
			n, err := strconv.ParseUint(f[2], 10, 64)
			if err != nil {
				continue
			}
			p = p.with(gtidDom{dom: f[0], server: f[1], seq: n})
			continue
		}
		f := strings.Split(g, ":")
		dom := strings.ToLower(f[0])
		for _, part := range f[1:] {
			if part == "" {
				continue
			}
			if c := part[0]; c < '0' || c > '9' { // a tag (MySQL 8.4)
				dom = strings.ToLower(f[0]) + ":" + part
				continue
			}
			hi := part
			if j := strings.IndexByte(part, '-'); j >= 0 {
				hi = part[j+1:]
			}
			if n, err := strconv.ParseUint(hi, 10, 64); err == nil {
				p = p.with(gtidDom{dom: dom, seq: n})
			}
		}
	}
	return p
}

// with returns p with d merged in; p itself when it already covers d.
func (p *gtidPos) with(d gtidDom) *gtidPos {
	if p != nil {
		for i, have := range p.doms {
			if have.dom != d.dom {
				continue
			}
			if have.seq >= d.seq {
				return p
			}
			n := &gtidPos{doms: append([]gtidDom(nil), p.doms...)}
			n.doms[i] = d
			return n
		}
	}
	n := &gtidPos{}
	if p != nil {
		n.doms = append(make([]gtidDom, 0, len(p.doms)+1), p.doms...)
	}
	n.doms = append(n.doms, d)
	return n
}

// merge returns p with every domain of q merged in; p itself when it
// already covers q.
func (p *gtidPos) merge(q *gtidPos) *gtidPos {
	if q == nil {
		return p
	}
	for _, d := range q.doms {
		p = p.with(d)
	}
	return p
}

// covers reports whether p has reached every domain of want.
func (p *gtidPos) covers(want *gtidPos) bool {
	if want == nil {
		return true
	}
	if p == nil {
		return false
	}
	for _, w := range want.doms {
		ok := false
		for _, h := range p.doms {
			if h.dom == w.dom {
				ok = h.seq >= w.seq
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// String is the position as a GTID list the wait functions take:
// MariaDB "domain-server-seq,..." or MySQL "uuid[:tag]:seq,...".
func (p *gtidPos) String() string {
	if p == nil {
		return ""
	}
	var b strings.Builder
	for i, d := range p.doms {
		if i > 0 {
			b.WriteByte(',')
		}
		if d.server != "" {
			b.WriteString(d.dom + "-" + d.server + "-")
		} else {
			b.WriteString(d.dom + ":")
		}
		b.WriteString(strconv.FormatUint(d.seq, 10))
	}
	return b.String()
}

// posCell holds one position that many sessions read and advance: a read
// is an atomic load, an advance a compare-and-swap of a new snapshot.
type posCell struct{ p atomic.Pointer[gtidPos] }

func (c *posCell) load() *gtidPos { return c.p.Load() }

// advance merges q into the cell's position.
func (c *posCell) advance(q *gtidPos) {
	for {
		old := c.p.Load()
		n := old.merge(q)
		if n == old || c.p.CompareAndSwap(old, n) {
			return
		}
	}
}

// posMap is a set of cells by key. Cells are never removed: keys are
// backend addresses and configured user names, both bounded by the
// configuration's history.
type posMap struct{ m sync.Map }

func (m *posMap) cell(key string) *posCell {
	if c, ok := m.m.Load(key); ok {
		return c.(*posCell)
	}
	c, _ := m.m.LoadOrStore(key, &posCell{})
	return c.(*posCell)
}

// Applied is the read-your-writes state of one proxy node: per backend,
// the GTID position known to be applied there (so that a replica is waited
// on at most once per position), and per user, the merged position of
// every write its sessions acknowledged (consistency_scope: user). It is
// safe for concurrent use; no lock is taken on the statement path.
type Applied struct {
	backends posMap
	users    posMap
}

// NewApplied returns an empty tracker.
func NewApplied() *Applied { return &Applied{} }

// safeGTID reports whether g may be inlined in SQL (digits, letters of a
// uuid or tag, ':', '-', ',', '_').
func safeGTID(g string) bool {
	for i := 0; i < len(g); i++ {
		c := g[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == ':' || c == '-' || c == ',' || c == '_') {
			return false
		}
	}
	return g != ""
}

// rywSetup prepares the session's read-your-writes state at login.
func (s *Session) rywSetup() {
	s.ryw = s.user.Consistency == config.ConsistencyReadYourWrites && s.d.Applied != nil
	s.userPos = nil
	if s.ryw && s.user.ConsistencyScope != config.ScopeSession {
		s.userPos = s.d.Applied.users.cell(s.user.Username)
	}
}

// noteWrite records a write's GTIDs, acknowledged by the writer on c: for
// the session or its user, and as applied on that server.
func (s *Session) noteWrite(set string, c *pool.Conn) {
	if !s.ryw {
		return
	}
	q := parseGTIDs(set)
	if q == nil {
		return
	}
	if c != nil {
		s.d.Applied.backends.cell(c.Addr()).advance(q)
	}
	if s.userPos != nil {
		s.userPos.advance(q)
		return
	}
	s.sessPos = s.sessPos.merge(q)
}

// rywWant is the position a read must see: nil when none.
func (s *Session) rywWant() *gtidPos {
	if !s.ryw {
		return nil
	}
	if s.userPos != nil {
		return s.userPos.load()
	}
	return s.sessPos
}

// caughtUp reports whether the replica behind c has applied want, waiting
// for it up to the user's read_your_writes_timeout (MASTER_GTID_WAIT on
// MariaDB, WAIT_FOR_EXECUTED_GTID_SET on MySQL, Group Replication
// included). broken reports an I/O error: c must then be discarded.
func (s *Session) caughtUp(c *pool.Conn, want *gtidPos) (ok, broken bool) {
	cell := s.d.Applied.backends.cell(c.Addr())
	if cell.load().covers(want) {
		return true, false
	}
	g := want.String()
	if !safeGTID(g) {
		return false, false
	}
	timeout := s.user.ReadYourWritesTimeout
	if timeout <= 0 {
		timeout = time.Second
	}
	secs := strconv.FormatFloat(timeout.Seconds(), 'f', 3, 64)
	q := "SELECT MASTER_GTID_WAIT('" + g + "', " + secs + ")"
	if want.mysql() {
		q = "SELECT WAIT_FOR_EXECUTED_GTID_SET('" + g + "', " + secs + ")"
	}
	start := timeNow()
	if s.span != nil {
		s.span.GTIDStart = start
	}
	r, err := c.Execute(q)
	end := timeNow()
	if s.span != nil {
		s.span.GTIDEnd = end
	}
	s.d.Stats.RYWWaits.Add(1)
	s.d.Stats.RYWWait.observe(end.Sub(start))
	if err != nil {
		return false, asMyError(err) == nil
	}
	v, err := r.GetInt(0, 0)
	if err != nil || v != 0 {
		return false, false
	}
	cell.advance(want)
	return true, false
}
