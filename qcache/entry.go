package qcache

import (
	"encoding/binary"
	"sync"

	"github.com/cespare/xxhash/v2"
)

// Key names one cacheable result. Every field that can change the bytes
// of a result is in it.
type Key struct {
	User, DB string
	// Vars hashes the session state that shapes results (character sets,
	// collation, sql_mode, time zone, ...: every tracked session variable).
	Vars uint64
	// Class holds the client capabilities that change the packets
	// (CLIENT_DEPRECATE_EOF, session tracking) and the protocol: text
	// (COM_QUERY) or binary (COM_STMT_EXECUTE).
	Class uint32
	SQL   string
	// Params are a COM_STMT_EXECUTE's parameter types, null bitmap and
	// values (nil for COM_QUERY).
	Params []byte
}

// Hash is the key's 64-bit hash.
func (k *Key) Hash() uint64 {
	var d xxhash.Digest
	d.Reset()
	var b [12]byte
	binary.LittleEndian.PutUint64(b[:8], k.Vars)
	binary.LittleEndian.PutUint32(b[8:], k.Class)
	_, _ = d.Write(b[:])
	_, _ = d.WriteString(k.User)
	_, _ = d.Write([]byte{0})
	_, _ = d.WriteString(k.DB)
	_, _ = d.Write([]byte{0})
	_, _ = d.WriteString(k.SQL)
	_, _ = d.Write([]byte{0})
	_, _ = d.Write(k.Params)
	return d.Sum64()
}

// Equal reports whether k and o are the same key.
func (k *Key) Equal(o *Key) bool {
	return k.Vars == o.Vars && k.Class == o.Class && k.User == o.User && k.DB == o.DB && k.SQL == o.SQL &&
		string(k.Params) == string(o.Params)
}

// Clone returns a copy of k that owns its strings and bytes (k's may alias
// a packet buffer).
func (k *Key) Clone() Key {
	return Key{User: k.User, DB: k.DB, Vars: k.Vars, Class: k.Class, SQL: string([]byte(k.SQL)),
		Params: append([]byte(nil), k.Params...)}
}

// Entry is a cached result, immutable: it stays valid to replay after it
// left the cache.
type Entry entry

// Packets calls fn with each packet's payload in order; it stops at fn's
// first error. fn must not modify or retain the payload.
func (e *Entry) Packets(fn func(payload []byte) error) error { return walk(e.data, fn) }

// walk calls fn with each packet of recorded data.
func walk(d []byte, fn func(payload []byte) error) error {
	for len(d) >= 4 {
		n := int(binary.LittleEndian.Uint32(d))
		if err := fn(d[4 : 4+n]); err != nil {
			return err
		}
		d = d[4+n:]
	}
	return nil
}

// Tables are the tables the entry's statement read.
func (e *Entry) Tables() []string { return e.tables }

// Fill records the packets of one result on its way to the client.
type Fill struct {
	c        *Cache
	hash     uint64
	key      Key
	startSeq uint64
	buf      []byte
	max      int64
	overflow bool
	done     chan struct{}
	ended    bool
}

// Add records one packet's payload (copied).
func (f *Fill) Add(payload []byte) {
	if f.overflow {
		return
	}
	if int64(len(f.buf)+4+len(payload)) > f.max {
		f.overflow, f.buf = true, nil
		return
	}
	f.buf = binary.LittleEndian.AppendUint32(f.buf, uint32(len(payload)))
	f.buf = append(f.buf, payload...)
}

// Key is the key being filled.
func (f *Fill) Key() *Key { return &f.key }

// maxWriteRecords bounds a Writes; past it every table counts as written
// at the latest write.
const maxWriteRecords = 64

// Writes records the tables one consistency scope (a session, or a user at
// user scope) wrote through this node, with the sequence number of the
// last write to each. It is safe for concurrent use.
type Writes struct {
	mu   sync.Mutex
	all  uint64 // every table counts as written at this sequence
	recs []writeRec
}

type writeRec struct {
	table string
	seq   uint64
}

// Note records a write of tables at seq; nil tables means every table.
func (w *Writes) Note(tables []string, seq uint64, all bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if all || len(w.recs)+len(tables) > maxWriteRecords {
		w.all, w.recs = seq, w.recs[:0]
		return
	}
next:
	for _, t := range tables {
		for i := range w.recs {
			if w.recs[i].table == t {
				w.recs[i].seq = seq
				continue next
			}
		}
		w.recs = append(w.recs, writeRec{table: t, seq: seq})
	}
}

// seqOf is the sequence of the scope's last write to t (0: none).
func (w *Writes) seqOf(t string) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.all
	for _, r := range w.recs {
		if r.table == t && r.seq > s {
			s = r.seq
		}
	}
	return s
}

// Empty reports whether the scope wrote nothing yet.
func (w *Writes) Empty() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.all == 0 && len(w.recs) == 0
}
