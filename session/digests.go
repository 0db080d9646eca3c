package session

import (
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DigestStat is one row of stats_mysql_query_digest.
type DigestStat struct {
	Hostgroup int
	Schema    string
	User      string
	// ClientAddress is the client's host when digests track it
	// (log.query_digests_track_hostname), else "".
	ClientAddress string
	Digest        string
	Count         uint64
	FirstSeen     time.Time
	LastSeen      time.Time
	SumTimeUs     uint64
	MinTimeUs     uint64
	MaxTimeUs     uint64
	// SumRowsAffected / SumRowsSent add up the statements' affected rows
	// and the rows sent to the client.
	SumRowsAffected uint64
	SumRowsSent     uint64
}

type digestEntry struct {
	hostgroup int
	user      string
	schema    string
	client    string
	digest    string
	count     atomic.Uint64
	sumUs     atomic.Uint64
	minUs     atomic.Uint64
	maxUs     atomic.Uint64
	affected  atomic.Uint64
	sent      atomic.Uint64
	first     int64
	last      atomic.Int64
}

const digestShards = 32

// Digests aggregates statement statistics by (hostgroup, user, schema,
// client address, digest); the client address is "" unless digests track
// it. Recording is lock-free for a known key (a read lock on one shard
// and atomics); a new key takes that shard's write lock. The number of keys
// is bounded: past the limit new digests are counted in one "(other)" row.
type Digests struct {
	seed   maphash.Seed
	max    int
	count  atomic.Int64
	shards [digestShards]struct {
		mu sync.RWMutex
		m  map[string]*digestEntry
	}
}

// NewDigests keeps at most maxKeys distinct keys.
func NewDigests(maxKeys int) *Digests {
	d := &Digests{seed: maphash.MakeSeed(), max: maxKeys}
	for i := range d.shards {
		d.shards[i].m = make(map[string]*digestEntry)
	}
	return d
}

// digestKey appends the entry key for the arguments to dst.
func digestKey(dst []byte, hg int, user, schema, client, digest string) []byte {
	dst = strconv.AppendInt(dst, int64(hg), 10)
	dst = append(dst, 0)
	dst = append(dst, user...)
	dst = append(dst, 0)
	dst = append(dst, schema...)
	dst = append(dst, 0)
	dst = append(dst, client...)
	dst = append(dst, 0)
	return append(dst, digest...)
}

// Record adds one execution. key is from digestKey (reused by the caller);
// the other arguments describe it and are copied only for a new key.
func (d *Digests) Record(key []byte, hg int, user, schema, client, digest string, dur time.Duration, affected, sent uint64) {
	sh := &d.shards[maphash.Bytes(d.seed, key)%digestShards]
	sh.mu.RLock()
	e := sh.m[string(key)]
	sh.mu.RUnlock()
	if e == nil {
		if d.count.Load() >= int64(d.max) {
			digest, key = "(other)", digestKey(nil, hg, user, schema, client, "(other)")
			sh = &d.shards[maphash.Bytes(d.seed, key)%digestShards]
		}
		e = d.insert(sh, key, hg, user, schema, client, digest)
	}
	us := uint64(dur.Microseconds())
	e.count.Add(1)
	e.affected.Add(affected)
	e.sent.Add(sent)
	e.sumUs.Add(us)
	for {
		m := e.minUs.Load()
		if m != 0 && m <= us || e.minUs.CompareAndSwap(m, us) {
			break
		}
	}
	for {
		m := e.maxUs.Load()
		if m >= us || e.maxUs.CompareAndSwap(m, us) {
			break
		}
	}
	e.last.Store(time.Now().UnixMicro())
}

func (d *Digests) insert(sh *struct {
	mu sync.RWMutex
	m  map[string]*digestEntry
}, key []byte, hg int, user, schema, client, digest string) *digestEntry {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.m[string(key)]; e != nil {
		return e
	}
	e := &digestEntry{hostgroup: hg, user: strings.Clone(user), schema: strings.Clone(schema),
		client: strings.Clone(client), digest: strings.Clone(digest), first: time.Now().UnixMicro()}
	sh.m[string(key)] = e
	d.count.Add(1)
	return e
}

// Snapshot copies every row.
func (d *Digests) Snapshot() []DigestStat {
	var out []DigestStat
	for i := range d.shards {
		sh := &d.shards[i]
		sh.mu.RLock()
		for _, e := range sh.m {
			out = append(out, DigestStat{Hostgroup: e.hostgroup, Schema: e.schema, User: e.user, ClientAddress: e.client,
				Digest: e.digest,
				Count:  e.count.Load(), FirstSeen: time.UnixMicro(e.first), LastSeen: time.UnixMicro(e.last.Load()),
				SumTimeUs: e.sumUs.Load(), MinTimeUs: e.minUs.Load(), MaxTimeUs: e.maxUs.Load(),
				SumRowsAffected: e.affected.Load(), SumRowsSent: e.sent.Load()})
		}
		sh.mu.RUnlock()
	}
	return out
}

// Reset forgets every row.
func (d *Digests) Reset() {
	for i := range d.shards {
		sh := &d.shards[i]
		sh.mu.Lock()
		d.count.Add(-int64(len(sh.m)))
		sh.m = make(map[string]*digestEntry)
		sh.mu.Unlock()
	}
}
