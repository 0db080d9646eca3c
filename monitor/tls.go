package monitor

import (
	"crypto/tls"
	"fmt"

	"github.com/go-mysql-org/go-mysql/client"
)

// TLSFunc returns the TLS settings for a new monitor connection to a
// server (host:port), or nil for a plain connection. rwproxy passes the
// function its backend pools dial with (servers[].use_tls for the address,
// tls.backend_* for the verification), so that the monitor reaches a
// server exactly as a data connection does: a server that refuses plain
// connections (require_secure_transport=ON, REQUIRE SSL) is not reported
// down while data connections could use it.
type TLSFunc func(addr string) (*tls.Config, error)

// SetTLS makes every later monitor dial ask f whether and how to use TLS;
// nil (the default) means plain connections. Call it before Start. An open
// monitor connection keeps its transport until it is re-dialed: Update
// re-dials a server whose use_tls or whose tls.backend_* settings changed.
func (m *Monitor) SetTLS(f TLSFunc) {
	if f == nil {
		m.tlsFor.Store(nil)
		return
	}
	m.tlsFor.Store(&f)
}

// tlsOption is the go-mysql client option that applies the TLS settings
// for addr: go-mysql then sends an SSLRequest after the server's greeting
// and fails the login if the server does not offer TLS.
func (m *Monitor) tlsOption(addr string) client.Option {
	return func(c *client.Conn) error {
		fp := m.tlsFor.Load()
		if fp == nil {
			return nil
		}
		cfg, err := (*fp)(addr)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		if cfg != nil {
			c.SetTLSConfig(cfg)
		}
		return nil
	}
}

// tlsKey is what the configuration says about a server's monitor TLS; a
// checker whose key changes is replaced, so that its connection is
// re-dialed with the new settings (TLSFunc reads them at dial time).
type tlsKey struct {
	use bool // servers[].use_tls
	// The tls.backend_* settings, zero when use is false (they do not
	// concern a plain connection).
	ca                     string
	verifyHost, skipVerify bool
}
