package pool

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/go-mysql-org/go-mysql/client"
)

// TLSFunc returns the TLS settings for new connections to a backend
// address (host:port), or nil for a plain connection. It is called at
// every dial, so a configuration change applies to the next connection.
type TLSFunc func(addr string) (*tls.Config, error)

// SetTLS makes every later dial ask f whether and how to use TLS. It may be
// called at any time; nil turns TLS off.
func (m *Manager) SetTLS(f TLSFunc) {
	if f == nil {
		m.tlsFor.Store(nil)
		return
	}
	m.tlsFor.Store(&f)
}

// applyTLS sets c's TLS settings for addr from the Manager's TLSFunc.
func (m *Manager) applyTLS(c *client.Conn, addr string) error {
	fp := m.tlsFor.Load()
	if fp == nil {
		return nil
	}
	return (*fp).Apply(c, addr)
}

// Apply is a go-mysql client option body: it sets c's TLS settings for
// addr (none when f is nil or returns nil). go-mysql then sends an
// SSLRequest after the server's greeting and fails the login if the
// server does not offer TLS; caching_sha2_password full authentication
// then sends the password over TLS (what MySQL 8.4+ and 9.x servers need
// without an RSA key exchange). The start-up version probe dials with it
// too, so that it reaches a server as a data connection does.
func (f TLSFunc) Apply(c *client.Conn, addr string) error {
	if f == nil {
		return nil
	}
	cfg, err := f(addr)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	if cfg != nil {
		c.SetTLSConfig(cfg)
	}
	return nil
}

// BackendTLS describes how backends are verified.
type BackendTLS struct {
	// Roots verifies backend certificates; nil means the system roots.
	Roots *x509.CertPool
	// VerifyHostname also requires the certificate to name the host
	// (VERIFY_IDENTITY); false checks the chain only (VERIFY_CA).
	VerifyHostname bool
	// InsecureSkipVerify accepts any certificate.
	InsecureSkipVerify bool
}

// Config returns the client TLS settings for a backend on host (a name or
// an IP address): TLS 1.2 or newer, verified as b says.
func (b BackendTLS) Config(host string) *tls.Config {
	cfg := &tls.Config{ServerName: host, RootCAs: b.Roots, MinVersion: tls.VersionTLS12}
	switch {
	case b.InsecureSkipVerify:
		cfg.InsecureSkipVerify = true // explicitly configured: tls.backend_insecure_skip_verify
	case !b.VerifyHostname:
		// crypto/tls verifies the chain and the name together; checking
		// the chain alone means doing it here.
		cfg.InsecureSkipVerify = true // the chain is verified in VerifyConnection
		roots := b.Roots
		cfg.VerifyConnection = func(cs tls.ConnectionState) error { return verifyChain(cs, roots) }
	}
	return cfg
}

// verifyChain checks the peer's certificate chain against roots (nil:
// the system roots) without checking its names.
func verifyChain(cs tls.ConnectionState, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tls: backend sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
	return err
}
