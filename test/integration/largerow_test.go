package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
)

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	var key [32]byte
	key[0] = byte(seed)
	key[1] = byte(seed >> 8)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}

// TestLargeRow64MiB writes a 64 MiB LONGBLOB through the proxy (a prepared
// statement, whose COM_STMT_EXECUTE spans several 16 MiB packets, and a text
// INSERT with a 128 MiB hex literal) and reads it back through the proxy.
func TestLargeRow64MiB(t *testing.T) {
	needSandbox(t)
	// The hex literal makes a 128 MiB statement: over max_query_length's
	// default (64 MiB), within max_allowed_packet (256 MiB) when it is 0.
	a := startProxy(t, func(c *config.Config) { c.Limits.MaxQueryLength = 0 })
	direct := openDB(t, dsn(primary(), "app", "app"))
	proxied := openDB(t, dsn(a.Addr(), "app", "app"))
	_, err := direct.Exec("DROP TABLE IF EXISTS app.bigrow")
	require.NoError(t, err)
	_, err = direct.Exec("CREATE TABLE app.bigrow (id INT PRIMARY KEY, b LONGBLOB NOT NULL)")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = direct.Exec("DROP TABLE IF EXISTS app.bigrow") })

	const size = 64 << 20
	cases := []struct {
		name   string
		id     int
		insert func(data []byte) error
		read   string
		args   []any // with args, go-sql-driver uses the binary protocol
	}{
		{"prepared statement", 1, func(data []byte) error {
			_, err := proxied.Exec("INSERT INTO app.bigrow VALUES (?, ?)", 1, data)
			return err
		}, "SELECT b FROM app.bigrow WHERE id = ?", []any{1}},
		{"text hex literal", 2, func(data []byte) error {
			var q strings.Builder
			q.Grow(2*len(data) + 64)
			q.WriteString("INSERT INTO app.bigrow VALUES (2, X'")
			q.WriteString(hex.EncodeToString(data))
			q.WriteString("')")
			require.Less(t, q.Len(), 256<<20, "the statement fits max_allowed_packet")
			_, err := proxied.Exec(q.String()) // no args: COM_QUERY
			return err
		}, "SELECT b FROM app.bigrow WHERE id = 2", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := randomBytes(size, uint64(tc.id))
			want := sha256.Sum256(data)
			require.NoError(t, tc.insert(data))

			// What the server stored, computed on the server.
			var serverSum string
			require.NoError(t, direct.QueryRow("SELECT SHA2(b, 256) FROM app.bigrow WHERE id = ?", tc.id).Scan(&serverSum))
			require.Equal(t, hex.EncodeToString(want[:]), serverSum, "stored blob")

			// Read back through the proxy. Each row is read once (in the
			// protocol it was written with) to keep the test's time down:
			// a 64 MiB read costs several seconds under -race.
			var got []byte
			require.NoError(t, proxied.QueryRow(tc.read, tc.args...).Scan(&got))
			require.Equal(t, size, len(got), "length read back")
			require.Equal(t, want, sha256.Sum256(got), "sha256 read back")
		})
	}

	t.Run("session still usable", func(t *testing.T) {
		var n int
		require.NoError(t, proxied.QueryRow("SELECT COUNT(*) FROM app.bigrow").Scan(&n))
		require.Equal(t, 2, n)
	})
}
