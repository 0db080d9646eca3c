package qcache

import (
	"sync"
	"sync/atomic"
)

// entryOverhead approximates the memory of an entry besides its packets,
// key and table names (the struct, map slots, index sets).
const entryOverhead = 256

// maxEntryCap bounds one entry whatever the budget: a result larger than
// this is relayed without being kept (counted in NotStored).
const maxEntryCap = 4 << 20

// maxTrackedTables bounds the per-table write sequence map; past it the map
// is cleared and every table counts as written at that point.
const maxTrackedTables = 1 << 16

// Cache is the query cache of one proxy node.
type Cache struct {
	mu struct {
		sync.Mutex
		entries map[uint64]*entry
		// byTable indexes entries by each table they read.
		byTable map[string]map[*entry]struct{}
		// lastWrite is the sequence number of each table's last write;
		// floor stands for every table not in the map.
		lastWrite map[string]uint64
		floor     uint64
		seq       uint64
		// head is the most recently used entry, tail the least.
		head, tail *entry
		bytes      int64
		limit      int64
		inflight   map[uint64]*Fill
		users      map[string]*Writes
	}
	stats counters
}

type counters struct {
	hits, misses, stores, notStored, evicted, invalidated, expired, waits atomic.Uint64
	bytesIn, bytesOut                                                     atomic.Uint64
}

// entry is one cached result. Its fields are immutable once it is in the
// index, except the LRU links (under the Cache's lock).
type entry struct {
	hash    uint64
	key     Key
	data    []byte // packets: 4-byte little-endian length, then the payload
	tables  []string
	expires int64 // unix nanoseconds
	fillSeq uint64
	src     Source
	size    int64

	prev, next *entry
}

// New returns a cache holding at most limit bytes.
func New(limit int64) *Cache {
	c := &Cache{}
	c.mu.entries = make(map[uint64]*entry)
	c.mu.byTable = make(map[string]map[*entry]struct{})
	c.mu.lastWrite = make(map[string]uint64)
	c.mu.inflight = make(map[uint64]*Fill)
	c.mu.users = make(map[string]*Writes)
	c.mu.limit = limit
	return c
}

// SetLimit changes the memory budget, evicting down to it.
func (c *Cache) SetLimit(limit int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.limit = limit
	c.evictTo(limit)
}

func (c *Cache) maxEntryLocked() int64 {
	return min(c.mu.limit/8, maxEntryCap)
}

// Source says how a result was read, for the read-your-writes rule of Get.
type Source struct {
	// Writer: the read ran on the writer hostgroup's server, which has
	// every write this node acknowledged.
	Writer bool
	// RYW: the read ran where read-your-writes held for Scope (the
	// session's or user's acknowledged writes were applied there).
	RYW   bool
	Scope uint64
}

// Get returns the live entry for k that the reader may use, or nil (a
// miss). w are the writes of the reader's consistency scope (nil: none);
// scope identifies it (see Source). now is in unix nanoseconds.
func (c *Cache) Get(k *Key, w *Writes, scope uint64, now int64) *Entry {
	h := k.Hash()
	c.mu.Lock()
	e := c.mu.entries[h]
	switch {
	case e == nil || !e.key.Equal(k):
		e = nil
	case e.expires <= now:
		c.remove(e)
		c.stats.expired.Add(1)
		e = nil
	case !usable(e, w, scope):
		e = nil
	default:
		c.touch(e)
	}
	c.mu.Unlock()
	if e == nil {
		c.stats.misses.Add(1)
		return nil
	}
	c.stats.hits.Add(1)
	c.stats.bytesOut.Add(uint64(len(e.data)))
	return (*Entry)(e)
}

// usable applies the read-your-writes rule: for each table the entry read
// that the reader's scope wrote, the entry must have been filled after
// that write, by a read that saw it (on the writer, or a read-your-writes
// read of the same scope).
func usable(e *entry, w *Writes, scope uint64) bool {
	if w == nil {
		return true
	}
	for _, t := range e.tables {
		seq := w.seqOf(t)
		if seq == 0 {
			continue
		}
		if e.fillSeq < seq || !(e.src.Writer || e.src.RYW && e.src.Scope == scope) {
			return false
		}
	}
	return true
}

// Begin starts filling k. It returns nil and the channel closed when the
// fill of k already in flight (another session's) ends, or a Fill that the
// caller must end with Commit or Abort.
func (c *Cache) Begin(k *Key) (*Fill, <-chan struct{}) {
	h := k.Hash()
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.mu.inflight[h]; f != nil {
		c.stats.waits.Add(1)
		return nil, f.done
	}
	f := &Fill{c: c, hash: h, key: k.Clone(), startSeq: c.mu.seq, done: make(chan struct{}),
		max: c.maxEntryLocked()}
	c.mu.inflight[h] = f
	return f, nil
}

// Commit stores the fill's result for ttl (nanoseconds) from now, under
// the tables it read, unless it outgrew the entry limit or a write to one
// of those tables completed after the fill began.
func (c *Cache) Commit(f *Fill, tables []string, src Source, now, ttl int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endFill(f)
	if f.overflow || !c.freshSince(tables, f.startSeq) {
		c.stats.notStored.Add(1)
		return false
	}
	e := &entry{hash: f.hash, key: f.key, data: f.buf, tables: tables, expires: now + ttl,
		fillSeq: f.startSeq, src: src}
	e.size = int64(len(e.data)) + int64(len(e.key.SQL)+len(e.key.User)+len(e.key.DB)+len(e.key.Params)) + entryOverhead
	for _, t := range tables {
		e.size += int64(len(t)) + 48
	}
	if e.size > c.maxEntryLocked() {
		c.stats.notStored.Add(1)
		return false
	}
	if old := c.mu.entries[e.hash]; old != nil {
		c.remove(old)
	}
	c.evictTo(c.mu.limit - e.size)
	c.mu.entries[e.hash] = e
	for _, t := range tables {
		set := c.mu.byTable[t]
		if set == nil {
			set = make(map[*entry]struct{}, 1)
			c.mu.byTable[t] = set
		}
		set[e] = struct{}{}
	}
	c.pushFront(e)
	c.mu.bytes += e.size
	c.stats.stores.Add(1)
	c.stats.bytesIn.Add(uint64(len(e.data)))
	return true
}

// Abort ends a fill without storing anything.
func (c *Cache) Abort(f *Fill) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endFill(f)
}

func (c *Cache) endFill(f *Fill) {
	if c.mu.inflight[f.hash] == f {
		delete(c.mu.inflight, f.hash)
	}
	if !f.ended {
		f.ended = true
		close(f.done)
	}
}

// freshSince reports whether none of tables was written after seq.
func (c *Cache) freshSince(tables []string, seq uint64) bool {
	for _, t := range tables {
		lw, ok := c.mu.lastWrite[t]
		if !ok {
			lw = c.mu.floor
		}
		if lw > seq {
			return false
		}
	}
	return c.mu.floor <= seq
}

// Invalidate records a completed write to tables and removes every entry
// that read one of them. It returns the write's sequence number, for the
// writer's Writes.
func (c *Cache) Invalidate(tables []string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.seq++
	seq := c.mu.seq
	if len(c.mu.lastWrite)+len(tables) > maxTrackedTables {
		clear(c.mu.lastWrite)
		c.mu.floor = seq
	}
	for _, t := range tables {
		c.mu.lastWrite[t] = seq
		for e := range c.mu.byTable[t] {
			c.remove(e)
			c.stats.invalidated.Add(1)
		}
	}
	return seq
}

// InvalidateAll records a write whose tables are not known (a CALL, a
// statement the parser rejected): every entry goes.
func (c *Cache) InvalidateAll() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.seq++
	c.mu.floor = c.mu.seq
	clear(c.mu.lastWrite)
	c.stats.invalidated.Add(uint64(len(c.mu.entries)))
	c.purge()
	return c.mu.seq
}

// Purge empties the cache (the rules stopped caching: nothing invalidates
// entries while no rule caches).
func (c *Cache) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.purge()
}

func (c *Cache) purge() {
	clear(c.mu.entries)
	clear(c.mu.byTable)
	c.mu.head, c.mu.tail, c.mu.bytes = nil, nil, 0
}

// remove takes e out of the index.
func (c *Cache) remove(e *entry) {
	if c.mu.entries[e.hash] != e {
		return
	}
	delete(c.mu.entries, e.hash)
	for _, t := range e.tables {
		if set := c.mu.byTable[t]; set != nil {
			delete(set, e)
			if len(set) == 0 {
				delete(c.mu.byTable, t)
			}
		}
	}
	c.unlink(e)
	c.mu.bytes -= e.size
}

// evictTo evicts least recently used entries until at most limit bytes
// are held.
func (c *Cache) evictTo(limit int64) {
	for c.mu.bytes > limit && c.mu.tail != nil {
		c.remove(c.mu.tail)
		c.stats.evicted.Add(1)
	}
}

func (c *Cache) pushFront(e *entry) {
	e.prev, e.next = nil, c.mu.head
	if c.mu.head != nil {
		c.mu.head.prev = e
	}
	c.mu.head = e
	if c.mu.tail == nil {
		c.mu.tail = e
	}
}

func (c *Cache) unlink(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else if c.mu.head == e {
		c.mu.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else if c.mu.tail == e {
		c.mu.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (c *Cache) touch(e *entry) {
	if c.mu.head == e {
		return
	}
	c.unlink(e)
	c.pushFront(e)
}

// Seq returns the sequence number of the last write recorded.
func (c *Cache) Seq() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.seq
}

// UserWrites returns the shared write record of user (read_your_writes at
// user scope). Users are bounded by the configuration's history.
func (c *Cache) UserWrites(user string) *Writes {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.mu.users[user]
	if w == nil {
		w = &Writes{}
		c.mu.users[user] = w
	}
	return w
}
