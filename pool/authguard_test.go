package pool

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rwproxy/rwproxy/internal/testkit/fakebackend"
	"github.com/rwproxy/rwproxy/protocol"
)

const guardPassword = "s3cret-backend-pw"

// TestLoginRefusesClearTextPlugins: a backend (or anyone in the middle)
// that answers the login with an auth switch to a plugin that would
// expose the password gets no answer from the pool without TLS; the
// refusal is an error naming the plugin, and it is logged. A switch to a
// safe plugin is answered (with a signature, not the password).
func TestLoginRefusesClearTextPlugins(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // registered first: runs after the servers stop
	tests := []struct {
		plugin string
		data   []byte
		refuse bool
	}{
		{plugin: mysql.AUTH_CLEAR_PASSWORD, refuse: true},
		{plugin: mysql.AUTH_SHA256_PASSWORD, data: append(bytes.Repeat([]byte{'s'}, 20), 0), refuse: true},
		{plugin: "dialog", refuse: true},
		{plugin: mysql.AUTH_MARIADB_ED25519, data: bytes.Repeat([]byte{'e'}, 32)},
	}
	for _, tc := range tests {
		t.Run(tc.plugin, func(t *testing.T) {
			sw := fakebackend.StartSwitcher(t, tc.plugin, tc.data)
			core, logs := observer.New(zapcore.InfoLevel)
			m := NewManager(Options{ConnectTimeout: 5 * time.Second, WaitTimeout: time.Second}, zap.New(core))
			defer func() { require.NoError(t, m.Close()) }()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := m.Get(ctx, Key{Addr: sw.Addr, User: "app"}, guardPassword)
			require.Error(t, err)
			require.Eventually(t, func() bool { return len(sw.Replies()) == 1 }, 30*time.Second, time.Millisecond)
			replies := sw.Replies()
			require.NotContains(t, string(replies[0]), guardPassword, "the password crossed the network")
			if !tc.refuse {
				require.NotErrorIs(t, err, protocol.ErrPluginRefused)
				require.Len(t, replies[0], 4+64, "the ed25519 signature")
				return
			}
			require.ErrorIs(t, err, protocol.ErrPluginRefused)
			require.ErrorContains(t, err, tc.plugin)
			require.Empty(t, replies[0], "the switch request was answered")
			require.Equal(t, 1, logs.FilterMessageSnippet("backend login refused").Len())
		})
	}
}
