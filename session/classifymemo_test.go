package session

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/internal/testkit/fakemysql"
)

// A text statement of a shape the session classified before takes that
// classification from the memo (router.Classifier.ClassifyDigest), but its
// hint is its own: the same shape with a writer hint, before or after the
// first keyword, runs on the writer, and without one on a replica, before
// and after; the digest statistics count them under one digest per
// hostgroup.
func TestQPMemoizedShapeKeepsItsHint(t *testing.T) {
	h, c := pointSelectSession(t)
	h.writer.OnFunc(func(q string) bool { return strings.Contains(q, "FROM sbtest1") }, // comments first, too
		fakemysql.Rows([]string{"c"}, []any{"writer"}))
	val := func(q string) string {
		t.Helper()
		v, err := exec(t, c, q).GetString(0, 0)
		require.NoError(t, err)
		return v
	}
	require.Equal(t, "value", val("SELECT c FROM sbtest1 WHERE id=1"))
	require.Equal(t, "writer", val("/* rwproxy:writer */ SELECT c FROM sbtest1 WHERE id=2"))
	require.Equal(t, "writer", val("SELECT /* rwproxy:writer */ c FROM sbtest1 WHERE id=3"))
	require.Equal(t, "value", val("SELECT c FROM sbtest1 WHERE id=4"))
	got := map[int]uint64{}
	for _, d := range h.d.Digests.Snapshot() {
		require.Equal(t, "select c from sbtest1 where id = ?", d.Digest)
		got[d.Hostgroup] += d.Count
	}
	require.Equal(t, map[int]uint64{hgReader: 2, hgWriter: 2}, got)
}
