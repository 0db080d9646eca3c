package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	"github.com/go-mysql-org/go-mysql/server"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/pool"
	"github.com/rwproxy/rwproxy/protocol"
	"github.com/rwproxy/rwproxy/topology"
)

// secure builds the client-facing go-mysql server: TLS when tls.cert and
// tls.key are set, rwproxy's authentication provider reading passwords
// through auth. A certificate or key that cannot be loaded is an error:
// the proxy does not start half-secured.
func (a *App) secure(cfg *config.Config, auth server.AuthenticationHandler) (*server.Server, error) {
	var tlsConf *tls.Config
	if cfg.TLS.Enabled() {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key)
		if err != nil {
			return nil, fmt.Errorf("tls.cert/tls.key: %w", err)
		}
		tlsConf = protocol.ServerTLSConfig(cert)
	}
	if cfg.TLS.RSAKey == "" {
		return protocol.NewSecureServer(a.version, tlsConf, auth)
	}
	key, err := protocol.LoadRSAKey(cfg.TLS.RSAKey)
	if err != nil {
		return nil, fmt.Errorf("tls.rsa_key: %w", err)
	}
	return protocol.NewSecureServerKey(a.version, tlsConf, auth, key)
}

// backendTLS decides TLS for each new backend connection from the current
// configuration: servers[].use_tls for the address, tls.backend_* for the
// verification. The CA bundle is read again when its path changes. It is
// the one decision for the pools' data connections, the monitor's
// connections and the start-up version probe.
type backendTLS struct {
	current func() *config.Config
	mu      struct {
		sync.Mutex
		path  string
		pool  *x509.CertPool
		err   error
		valid bool
	}
}

// forAddr is a pool.TLSFunc and a monitor.TLSFunc.
func (b *backendTLS) forAddr(addr string) (*tls.Config, error) {
	c := b.current()
	host, ok := useTLS(c, addr)
	if !ok {
		return nil, nil
	}
	roots, err := b.roots(c.TLS.BackendCA)
	if err != nil {
		return nil, err
	}
	return pool.BackendTLS{Roots: roots, VerifyHostname: c.TLS.BackendVerifyHostname,
		InsecureSkipVerify: c.TLS.BackendInsecureSkipVerify}.Config(host), nil
}

// useTLS reports whether a server at addr has use_tls, with its host.
func useTLS(c *config.Config, addr string) (string, bool) {
	for _, s := range c.Servers {
		if s.UseTLS && topology.Addr(s.Host, s.Port) == addr {
			return s.Host, true
		}
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return host, false
}

// roots returns the CA pool read from path; an empty path means the
// system's trust store (nil).
func (b *backendTLS) roots(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mu.valid && b.mu.path == path {
		return b.mu.pool, b.mu.err
	}
	b.mu.path, b.mu.valid = path, true
	b.mu.pool, b.mu.err = loadCA(path)
	return b.mu.pool, b.mu.err
}

func loadCA(path string) (*x509.CertPool, error) {
	pemBytes, err := os.ReadFile(path) //nolint:gosec // the operator's configured CA file
	if err != nil {
		return nil, fmt.Errorf("tls.backend_ca: %w", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("tls.backend_ca: %s: %w", path, errNoCerts)
	}
	return p, nil
}

var errNoCerts = errors.New("no PEM certificate found")

// LoginsRefused counts the client connections refused by the per-source
// login rate limit (limits.login_rate).
func (a *App) LoginsRefused() uint64 { return a.deps.Logins.Refused() }

// PreLoginRefused counts the client connections refused by the caps on
// connections still logging in (limits.max_unauthenticated*).
func (a *App) PreLoginRefused() uint64 { return a.deps.PreLogin.Refused() }
