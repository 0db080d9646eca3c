package app

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/rwproxy/rwproxy/config"
)

// Preflight checks, before anything is served, what start-up needs from
// the host: every listener's address can be bound (listen, admin.listen,
// http.listen, cluster.bind for TCP and UDP) and every TLS file can be
// read. It reports every problem at once, each naming its configuration
// key, so that a second rwproxy on a host fails before it opens any port.
// The probing sockets are closed again: the real listeners bind right
// after (App.New and the Start* methods). Addresses with port 0 are not
// probed (any free port).
func Preflight(c *config.Config) error {
	var errs []error
	type probe struct{ key, network, addr string }
	probes := []probe{{"listen", "tcp", c.Listen}, {"admin.listen", "tcp", c.Admin.Listen}}
	if c.HTTP.Listen != "" {
		probes = append(probes, probe{"http.listen", "tcp", c.HTTP.Listen})
	}
	if c.Cluster.Enabled {
		probes = append(probes, probe{"cluster.bind", "tcp", c.Cluster.Bind}, probe{"cluster.bind", "udp", c.Cluster.Bind})
	}
	for _, p := range probes {
		if _, port, err := net.SplitHostPort(p.addr); err == nil && port == "0" {
			continue
		}
		if err := bindProbe(p.network, p.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %s (%s): %s", p.key, p.addr, p.network, bindReason(err)))
		}
	}
	if c.TLS.Enabled() {
		if _, err := tls.LoadX509KeyPair(c.TLS.Cert, c.TLS.Key); err != nil {
			errs = append(errs, fmt.Errorf("tls.cert/tls.key: %w", err))
		}
	}
	if c.TLS.BackendCA != "" {
		if _, err := os.ReadFile(c.TLS.BackendCA); err != nil {
			errs = append(errs, fmt.Errorf("tls.backend_ca: %w", err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("cannot start, nothing was opened:\n%w", errors.Join(errs...))
	}
	return nil
}

func bindProbe(network, addr string) error {
	if network == "udp" {
		pc, err := net.ListenPacket(network, addr)
		if err == nil {
			_ = pc.Close()
		}
		return err
	}
	l, err := net.Listen(network, addr)
	if err == nil {
		_ = l.Close()
	}
	return err
}

// bindReason says why an address could not be bound, in operator terms.
func bindReason(err error) string {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return "address already in use (another process listens there; every rwproxy on a host needs its own " +
			"listen, admin.listen, http.listen and cluster.bind)"
	case errors.Is(err, syscall.EACCES):
		return "permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "address not available on this host (no interface has that IP)"
	}
	return err.Error()
}
