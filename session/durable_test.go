package session

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/router"
)

// TestDurableFrozenV1 reads the frozen record of version 1: every later
// binary must take a session from a version-1 process. Do not edit the
// fixture; add one per new version.
func TestDurableFrozenV1(t *testing.T) {
	d := readDurableFixture(t, "durable_v1.json")
	require.Equal(t, uint32(10042), d.ConnID)
	require.Equal(t, "u", d.User)
	require.Equal(t, "shop", d.DB)
	require.Equal(t, "ANSI_QUOTES", d.Vars["sql_mode"])
	require.True(t, d.InTxn)
	require.Equal(t, []string{"user_variable", "temporary_table"}, d.Pins)
	require.Len(t, d.Stmts, 2)
	require.Equal(t, []byte{8, 0}, d.Stmts[0].Types)
	require.Equal(t, uint64(1234), d.Statements)

	s := restoredSession(t, d)
	require.Equal(t, uint32(10042), s.id)
	require.Equal(t, PinUserVariable|PinTempTable, s.pins)
	require.False(t, s.st.autocommit())
	require.Equal(t, uint32(3), s.nextStmt)
	require.Equal(t, "0-1-42", s.sessPos.String())
	ps := s.stmts[3]
	require.NotNil(t, ps)
	require.Equal(t, router.KindWrite, ps.st.Kind, "statements are classified again on arrival")
	require.Equal(t, router.KindRead, s.stmts[1].st.Kind)
}

// TestDurableRoundTrip: Export after restore gives the record back, and
// its encoding decodes to the same value.
func TestDurableRoundTrip(t *testing.T) {
	d := readDurableFixture(t, "durable_v1.json")
	got := restoredSession(t, d).Export()
	got.Version, got.MinReader = d.Version, d.MinReader
	require.ElementsMatch(t, d.Pins, got.Pins)
	got.Pins = d.Pins // Export lists them in bit order
	require.Equal(t, d, got)
	enc, err := got.Marshal()
	require.NoError(t, err)
	back, err := UnmarshalDurable(enc)
	require.NoError(t, err)
	require.Equal(t, DurableVersion, back.Version, "written in this binary's version")
	back.Version = d.Version
	require.Equal(t, d, back)
}

// TestDurableVersions: a newer record with fields this binary does not
// know is read (they are ignored); one that needs a newer reader, or
// names a pin reason this binary does not know, is refused, so the
// session stays with the process that has it.
func TestDurableVersions(t *testing.T) {
	d, err := UnmarshalDurable([]byte(`{"v":7,"min_reader":1,"conn_id":5,"user":"u","future_field":{"x":1}}`))
	require.NoError(t, err)
	require.Equal(t, uint32(5), d.ConnID)
	_, err = UnmarshalDurable(fmt.Appendf(nil, `{"v":7,"min_reader":%d,"conn_id":5,"user":"u"}`, DurableVersion+1))
	require.ErrorIs(t, err, ErrDurableVersion)
	_, err = UnmarshalDurable([]byte(`{"conn_id":5}`))
	require.ErrorIs(t, err, ErrDurableVersion)
	d = &Durable{Version: 1, User: "u", Pins: []string{"quantum_lock"}}
	s := newSessionFor(t.Context(), durableDeps(), nil, config.User{Username: "u"}, 1, 0, 45)
	require.ErrorContains(t, s.restore(d), "quantum_lock")
}

// readDurableFixture decodes the frozen record testdata/<name>
// (durable_v<N>.json) as this binary does, and checks that it is of
// version N.
func readDurableFixture(t *testing.T, name string) *Durable {
	t.Helper()
	var v int
	_, err := fmt.Sscanf(name, "durable_v%d.json", &v)
	require.NoError(t, err, "fixture names are durable_v<N>.json")
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	d, err := UnmarshalDurable(b)
	require.NoError(t, err)
	require.Equal(t, v, d.Version, name)
	return d
}

func durableDeps() *Deps {
	cfg := config.Defaults()
	return &Deps{Config: func() *config.Config { return cfg }, Registry: NewRegistry(), Stats: &Stats{}}
}

func restoredSession(t *testing.T, d *Durable) *Session {
	t.Helper()
	s := newSessionFor(t.Context(), durableDeps(), nil, config.User{Username: d.User}, 1, d.Caps, d.Collation)
	require.NoError(t, s.restore(d))
	require.WithinDuration(t, time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC), s.started, 0)
	return s
}
