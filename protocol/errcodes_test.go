package protocol

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestConnectErrorsNameTheCondition: the client's text names the hostgroup
// and the condition, never the address or the Go error.
func TestConnectErrorsNameTheCondition(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("connect: %w", syscall.ECONNREFUSED)}
	wrapped := fmt.Errorf("pool 10.0.0.7:3306: dial: %w", refused)
	me := NewErrBackendConnect(10, wrapped)
	require.Equal(t, ErrCodeBackendConnect, me.Code)
	require.Equal(t, "rwproxy: cannot connect to a server of hostgroup 10: connection refused", me.Message)
	require.Equal(t, "connect timed out (pool.connect_timeout)", ConnectReason(fmt.Errorf("readInitialHandshake: %w", context.DeadlineExceeded)))
	require.Equal(t, "network error", ConnectReason(errors.New("something else")))
	require.Equal(t, "rwproxy: no writer available in hostgroup 10 after waiting 5.0s (last attempt: connection refused)",
		NewErrNoWriter(10, 5*time.Second, "connection refused").Message)
	require.Equal(t, "rwproxy: no reader available in hostgroup 20", NewErrNoReader(20).Message)
	require.NotContains(t, NewErrBackendLost("10.0.0.7:3306").Message, "10.0.0.7")
}
