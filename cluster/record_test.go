package cluster

import (
	"fmt"
	"math/rand"
	"reflect"
	"testing"
	"testing/quick"

	"github.com/stretchr/testify/require"
)

// genState is a random State for testing/quick: each module present or
// not, with a version 1..4, an origin among three nodes and one of three
// payloads, so that ties on version and on (version, origin) are common.
type genState State

func (genState) Generate(r *rand.Rand, _ int) reflect.Value {
	s := make(genState)
	for _, m := range moduleNames {
		if r.Intn(4) == 0 {
			continue
		}
		payload := fmt.Appendf(nil, `{"p":%d}`, r.Intn(3))
		s[m] = Record{Module: m, Version: uint64(1 + r.Intn(4)), Origin: string(rune('a' + r.Intn(3))),
			Checksum: checksum(payload), Payload: payload}
	}
	return reflect.ValueOf(s)
}

// TestMergeLaws: the merge rule makes states a join-semilattice, so the
// order and repetition in which records reach a node do not matter.
func TestMergeLaws(t *testing.T) {
	cfg := &quick.Config{MaxCount: 2000}
	commutative := func(a, b genState) bool {
		return reflect.DeepEqual(State(a).Merge(State(b)), State(b).Merge(State(a)))
	}
	associative := func(a, b, c genState) bool {
		return reflect.DeepEqual(State(a).Merge(State(b)).Merge(State(c)), State(a).Merge(State(b).Merge(State(c))))
	}
	idempotent := func(a, b genState) bool {
		ab := State(a).Merge(State(b))
		return reflect.DeepEqual(ab.Merge(State(b)), ab) && reflect.DeepEqual(State(a).Merge(State(a)), State(a))
	}
	upperBound := func(a, b genState) bool {
		ab := State(a).Merge(State(b))
		for _, s := range []genState{a, b} {
			for m, r := range s {
				if compareRecords(ab[m], r) < 0 {
					return false
				}
			}
		}
		return true
	}
	for name, f := range map[string]any{"commutative": commutative, "associative": associative,
		"idempotent": idempotent, "upper bound": upperBound} {
		require.NoError(t, quick.Check(f, cfg), name)
	}
}

// TestMergeOrderIndependent delivers the same records to nodes in
// different orders, in batches and one by one, with repeats, as gossip
// does: every node ends with the same state.
func TestMergeOrderIndependent(t *testing.T) {
	r := rand.New(rand.NewSource(1)) //nolint:gosec // reproducible test data
	for range 200 {
		var all []Record
		for range 10 {
			for _, rec := range genState(nil).Generate(r, 0).Interface().(genState) {
				all = append(all, rec)
			}
		}
		var want State
		for i := range 5 {
			s := State{}
			for _, j := range r.Perm(len(all)) {
				if i%2 == 0 {
					s = s.With(s.Newer([]Record{all[j]}))
				} else {
					s = s.With(s.Newer(all[j:]))
				}
			}
			if want == nil {
				want = s
			}
			require.Equal(t, want, s)
		}
	}
}

func TestNewer(t *testing.T) {
	p1, p2 := []byte(`{"a":1}`), []byte(`{"a":2}`)
	rec := func(m string, v uint64, origin string, p []byte) Record {
		return Record{Module: m, Version: v, Origin: origin, Checksum: checksum(p), Payload: p}
	}
	local := State{ModuleServers: rec(ModuleServers, 3, "b", p1), ModuleUsers: rec(ModuleUsers, 0, "z", p1)}
	tests := []struct {
		name   string
		remote []Record
		want   []Record
	}{
		{name: "older version", remote: []Record{rec(ModuleServers, 2, "z", p2)}},
		{name: "same version, smaller origin", remote: []Record{rec(ModuleServers, 3, "a", p2)}},
		{name: "same record", remote: []Record{rec(ModuleServers, 3, "b", p1)}},
		{name: "same version and origin, greater checksum decides",
			remote: []Record{rec(ModuleServers, 3, "b", p2)}, want: []Record{rec(ModuleServers, 3, "b", p2)}},
		{name: "newer version", remote: []Record{rec(ModuleServers, 4, "a", p2)}, want: []Record{rec(ModuleServers, 4, "a", p2)}},
		{name: "any real version beats bootstrap", remote: []Record{rec(ModuleUsers, 1, "a", p2)},
			want: []Record{rec(ModuleUsers, 1, "a", p2)}},
		{name: "bootstrap content never wins", remote: []Record{rec(ModuleQueryRules, 0, "zz", p2)}},
		{name: "unknown module", remote: []Record{rec("monitor_state", 9, "a", p2)}},
		{name: "bad checksum", remote: []Record{{Module: ModuleServers, Version: 9, Origin: "a", Checksum: checksum(p1), Payload: p2}}},
		{name: "greatest of several, module order",
			remote: []Record{rec(ModuleUsers, 2, "a", p1), rec(ModuleServers, 5, "a", p1), rec(ModuleUsers, 2, "c", p2), rec(ModuleUsers, 1, "d", p2)},
			want:   []Record{rec(ModuleServers, 5, "a", p1), rec(ModuleUsers, 2, "c", p2)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, local.Newer(tc.remote))
		})
	}
}
