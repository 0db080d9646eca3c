package failover

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/internal/app"
	"github.com/rwproxy/rwproxy/session"
)

// requireReplayed checks transaction replay (issue #21, on by default)
// after the primary died: a transaction in flight on it failed only at its
// COMMIT (whose outcome the kill hid: never replayed) or with 1213 (a
// replayed result differed); any other statement of a transaction was
// replayed on the new primary. It logs the replay counters.
func requireReplayed(t *testing.T, a *app.App, errs []writeOp) {
	t.Helper()
	r := &a.Stats.Replay
	var failed []string
	for i, n := range session.ReplayFailureNames {
		failed = append(failed, fmt.Sprintf("%s=%d", n, r.Failed[i].Load()))
	}
	t.Logf("transaction replay: %d started, %d succeeded, %d checksum mismatches; not replayed: %s",
		r.Started.Load(), r.Succeeded.Load(), r.Mismatches.Load(), strings.Join(failed, " "))
	for _, o := range errs {
		if o.kind == opInsert || strings.HasPrefix(o.err.Error(), "COMMIT") {
			continue
		}
		if me := mysqlErr(o.err); me != nil && me.Number == 1213 {
			continue
		}
		require.Failf(t, "a transaction failed before its COMMIT instead of being replayed", "%v", o)
	}
	require.Zero(t, r.Failed[session.ReplayNoServer].Load()+r.Failed[session.ReplayTimeout].Load()+
		r.Failed[session.ReplayServerLost].Load()+r.Failed[session.ReplayReadOnly].Load()+
		r.Failed[session.ReplayNotReplayable].Load(), "a replay failed: %s", strings.Join(failed, " "))
}
