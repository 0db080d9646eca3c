package session

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
)

// addrConn is a net.Conn with a given remote address.
type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// With log.query_digests_track_hostname on, the digest statistics keep
// the client's host (not its port: one row per host, not per connection)
// and count each host apart; off, every client shares one row.
func TestDigestsTrackClientHost(t *testing.T) {
	cfg := config.Defaults()
	s := &Session{d: &Deps{Config: func() *config.Config { return cfg }},
		nc: addrConn{remote: &net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 5555}}}
	require.Empty(t, s.digestClient(), "off by default")
	on := cfg.Clone()
	on.Log.QueryDigestsTrackHostname = true
	cfg = on
	require.Equal(t, "10.1.2.3", s.digestClient())

	d := NewDigests(100)
	rec := func(client string) {
		d.Record(digestKey(nil, 10, "app", "db", client, "SELECT ?"), 10, "app", "db", client, "SELECT ?", time.Millisecond, 0, 1)
	}
	rec("10.1.2.3")
	rec("10.1.2.3")
	rec("10.9.9.9")
	rec("")
	got := map[string]uint64{}
	for _, r := range d.Snapshot() {
		got[r.ClientAddress] = r.Count
	}
	require.Equal(t, map[string]uint64{"10.1.2.3": 2, "10.9.9.9": 1, "": 1}, got)
}
