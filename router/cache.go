package router

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// DefaultCacheSize is the number of entries NewCache uses for size <= 0.
const DefaultCacheSize = 10000

// Cache maps statement digests to the Kind and Flags the parser computed
// for them, so that a statement shape is parsed once, not once per
// execution. It is bounded (CLOCK eviction per shard) and safe for
// concurrent use by all sessions.
//
// Only results that depend on nothing but the digest are stored: SET and
// USE (whose values are per call) and the per-call flags (FlagHasHint,
// FlagFastPath) never are.
type Cache struct {
	seed   maphash.Seed
	mask   uint64
	shards []cacheShard
}

type cacheShard struct {
	mu   sync.RWMutex
	m    map[string]*cacheEntry
	ring []*cacheEntry // CLOCK ring, len ≤ cap
	hand int
	cap  int

	hits, misses atomic.Uint64
	_            [64]byte // keep shards on separate cache lines
}

// cacheEntry is immutable after insertion except for the CLOCK bit.
type cacheEntry struct {
	digest   string
	kind     Kind
	flags    Flags
	rejected bool // the parser rejected the statement (counted in ParseErrors)
	ref      atomic.Bool
}

// NewCache returns a cache holding at most size entries (DefaultCacheSize
// when size <= 0).
func NewCache(size int) *Cache {
	if size <= 0 {
		size = DefaultCacheSize
	}
	n := 1
	for n < 32 && size/(n*2) >= 128 {
		n *= 2
	}
	c := &Cache{seed: maphash.MakeSeed(), mask: uint64(n - 1), shards: make([]cacheShard, n)}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.cap = size / n
		if i < size%n {
			sh.cap++
		}
		sh.m = make(map[string]*cacheEntry, sh.cap)
		sh.ring = make([]*cacheEntry, 0, sh.cap)
	}
	return c
}

func (c *Cache) shard(key []byte) *cacheShard {
	if c.mask == 0 {
		return &c.shards[0]
	}
	return &c.shards[maphash.Bytes(c.seed, key)&c.mask]
}

// shardString is shard for a string key; maphash gives equal hashes for
// equal contents.
func (c *Cache) shardString(key string) *cacheShard {
	if c.mask == 0 {
		return &c.shards[0]
	}
	return &c.shards[maphash.String(c.seed, key)&c.mask]
}

// get looks key up and counts a hit or a miss. The map lookup with
// string(key) does not allocate.
func (c *Cache) get(key []byte) *cacheEntry {
	sh := c.shard(key)
	sh.mu.RLock()
	e := sh.m[string(key)]
	sh.mu.RUnlock()
	if e == nil {
		sh.misses.Add(1)
		return nil
	}
	sh.hits.Add(1)
	if !e.ref.Load() {
		e.ref.Store(true)
	}
	return e
}

// put inserts e (keyed by e.digest), evicting with CLOCK when the shard is
// full. If another session inserted the same digest meanwhile, the existing
// entry is kept.
func (c *Cache) put(e *cacheEntry) {
	sh := c.shardString(e.digest)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[e.digest]; ok {
		return
	}
	if len(sh.ring) < sh.cap {
		sh.ring = append(sh.ring, e)
		sh.m[e.digest] = e
		return
	}
	for {
		v := sh.ring[sh.hand]
		if v.ref.Load() {
			v.ref.Store(false)
			sh.hand = (sh.hand + 1) % sh.cap
			continue
		}
		delete(sh.m, v.digest)
		sh.ring[sh.hand] = e
		sh.m[e.digest] = e
		sh.hand = (sh.hand + 1) % sh.cap
		return
	}
}

// Stats returns the number of lookups that found an entry and that did
// not. Statements the fast path classifies, and SET/USE, do not look up.
func (c *Cache) Stats() (hits, misses uint64) {
	for i := range c.shards {
		hits += c.shards[i].hits.Load()
		misses += c.shards[i].misses.Load()
	}
	return hits, misses
}

// Len returns the number of cached entries.
func (c *Cache) Len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.ring)
		sh.mu.RUnlock()
	}
	return n
}
