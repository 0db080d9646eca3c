package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/stretchr/testify/require"
)

// TestClientKill: KILL QUERY <id> and KILL <id>, with the connection id the
// client got from rwproxy's handshake, reach the right backend connection.
func TestClientKill(t *testing.T) {
	needSandbox(t)
	a := startSplitProxy(t)
	victim, err := client.Connect(a.Addr(), "app", "app", "")
	require.NoError(t, err)
	defer victim.Close()
	id := victim.GetConnectionID()
	killer := openDB(t, dsn(a.Addr(), "app", "app"))

	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := victim.Execute("SELECT /* rwproxy:writer */ SLEEP(20) /* kill-victim */")
		done <- err
	}()
	// Wait for the statement to run on the backend before it is killed (a
	// KILL QUERY that arrives first finds nothing running: the SLEEP would
	// then run its 20 s and the test would fail for the wrong reason).
	require.Eventually(t, func() bool { return running(t, "kill-victim") == "1" }, 30*time.Second, 10*time.Millisecond,
		"the victim's SLEEP never ran on the primary")
	_, err = killer.Exec(fmt.Sprintf("KILL QUERY %d", id))
	require.NoError(t, err)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("KILL QUERY did not stop the statement")
	}
	require.Less(t, time.Since(start), 10*time.Second)
	// The session survives KILL QUERY.
	r, err := victim.Execute("SELECT 1")
	require.NoError(t, err)
	v, _ := r.GetInt(0, 0)
	require.Equal(t, int64(1), v)

	_, err = killer.Exec(fmt.Sprintf("KILL %d", id))
	require.NoError(t, err)
	_, err = victim.Execute("SELECT 1")
	require.Error(t, err, "KILL CONNECTION closes the session")

	_, err = killer.Exec("KILL 4000000000")
	require.Error(t, err)
	require.Equal(t, uint16(1094), myErr(t, err).Number, "unknown thread id")
}
