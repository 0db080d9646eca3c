package cluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	sockaddr "github.com/hashicorp/go-sockaddr"
	"github.com/hashicorp/memberlist"
	"go.uber.org/zap"
)

// The gossip port's sockets are opened by the node itself (not by
// memberlist's NetTransport, which keeps them private) so that a
// zero-downtime upgrade can hand them to the new process: the new node
// gossips on the very sockets the old one used, under the same name, and
// its peers see one member continue (no leave, no join).

// Sockets are a gossip port: its TCP listener and its UDP socket, on the
// same address.
type Sockets struct {
	TCP *net.TCPListener
	UDP *net.UDPConn
}

// udpRecvBuffer is the UDP receive buffer asked for (the kernel may cap
// it): a burst of gossip must not be dropped while the node is busy.
const udpRecvBuffer = 2 << 20

// ListenSockets opens a gossip port on bind (host:port); port 0 picks a
// port free for both TCP and UDP.
func ListenSockets(bind string) (*Sockets, error) {
	host, portStr, err := net.SplitHostPort(bind)
	if err != nil {
		return nil, fmt.Errorf("cluster.bind %q: %w", bind, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("cluster.bind %q: bad port", bind)
	}
	ip := net.IPv4zero
	if host != "" {
		if ip = net.ParseIP(host); ip == nil {
			return nil, fmt.Errorf("cluster.bind %q: not an IP address", bind)
		}
	}
	// With port 0 the UDP socket takes the port the kernel gave the TCP
	// listener, which may be taken for UDP: try again with another.
	for range 10 {
		var s *Sockets
		if s, err = listenPair(ip, port); err == nil || port != 0 {
			return s, err
		}
	}
	return nil, err
}

func listenPair(ip net.IP, port int) (*Sockets, error) {
	tl, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip, Port: port})
	if err != nil {
		return nil, err
	}
	port = tl.Addr().(*net.TCPAddr).Port
	ul, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port})
	if err != nil {
		_ = tl.Close()
		return nil, err
	}
	_ = ul.SetReadBuffer(udpRecvBuffer)
	return &Sockets{TCP: tl, UDP: ul}, nil
}

// Files returns duplicates of the two sockets (the caller closes them).
func (s *Sockets) Files() (tcp, udp *os.File, err error) {
	if tcp, err = s.TCP.File(); err != nil {
		return nil, nil, err
	}
	if udp, err = s.UDP.File(); err != nil {
		_ = tcp.Close()
		return nil, nil, err
	}
	return tcp, udp, nil
}

// SocketsFromFiles rebuilds a gossip port from descriptors (inherited, or
// kept by Files); the files stay the caller's to close.
func SocketsFromFiles(tcp, udp *os.File) (*Sockets, error) {
	ln, err := net.FileListener(tcp)
	if err != nil {
		return nil, fmt.Errorf("cluster: gossip TCP socket: %w", err)
	}
	pc, err := net.FilePacketConn(udp)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("cluster: gossip UDP socket: %w", err)
	}
	tl, ok1 := ln.(*net.TCPListener)
	ul, ok2 := pc.(*net.UDPConn)
	if !ok1 || !ok2 {
		_, _ = ln.Close(), pc.Close()
		return nil, errors.New("cluster: gossip sockets are not TCP and UDP")
	}
	return &Sockets{TCP: tl, UDP: ul}, nil
}

// sockTransport is memberlist's transport over Sockets: packets from the
// UDP socket, streams from the TCP listener, dials of its own.
type sockTransport struct {
	s       *Sockets
	lg      *zap.Logger
	packets chan *memberlist.Packet
	streams chan net.Conn
	closed  atomic.Bool
	stop    chan struct{} // closed by Shutdown
	wg      sync.WaitGroup
}

var _ memberlist.NodeAwareTransport = (*sockTransport)(nil)

// maxPacket is the largest gossip datagram read (memberlist keeps its own
// under UDPBufferSize, 1400 bytes; a peer's may be larger).
const maxPacket = 65536

func newSockTransport(s *Sockets, lg *zap.Logger) *sockTransport {
	t := &sockTransport{s: s, lg: lg, packets: make(chan *memberlist.Packet), streams: make(chan net.Conn),
		stop: make(chan struct{})}
	t.wg.Go(t.readPackets)
	t.wg.Go(t.acceptStreams)
	return t
}

func (t *sockTransport) readPackets() {
	for {
		buf := make([]byte, maxPacket)
		n, from, err := t.s.UDP.ReadFrom(buf)
		now := time.Now()
		if err != nil {
			if t.closed.Load() {
				return
			}
			t.lg.Warn("gossip UDP read failed", zap.Error(err))
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if n == 0 {
			continue
		}
		t.packets <- &memberlist.Packet{Buf: buf[:n:n], From: from, Timestamp: now}
	}
}

func (t *sockTransport) acceptStreams() {
	backoff := 5 * time.Millisecond
	for {
		c, err := t.s.TCP.AcceptTCP()
		if err != nil {
			if t.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors and the like: wait a little, as any
			// accept loop must, rather than spin.
			t.lg.Warn("gossip TCP accept failed", zap.Error(err))
			select {
			case <-t.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		t.streams <- c
	}
}

// FinalAdvertiseAddr implements memberlist.Transport: the configured
// address, else the bound one, else (bound to every interface) the
// host's private IP.
func (t *sockTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	if ip != "" {
		a := net.ParseIP(ip)
		if a == nil {
			return nil, 0, fmt.Errorf("cluster: advertise address %q is not an IP", ip)
		}
		if a4 := a.To4(); a4 != nil {
			a = a4
		}
		return a, port, nil
	}
	ta := t.s.TCP.Addr().(*net.TCPAddr)
	if !ta.IP.IsUnspecified() {
		return ta.IP, ta.Port, nil
	}
	priv, err := sockaddr.GetPrivateIP()
	if err != nil || priv == "" {
		return nil, 0, fmt.Errorf("cluster: no private IP to advertise (set cluster.advertise): %v", err)
	}
	return net.ParseIP(priv), ta.Port, nil
}

// WriteTo implements memberlist.Transport.
func (t *sockTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return time.Time{}, err
	}
	_, err = t.s.UDP.WriteTo(b, ua)
	return time.Now(), err
}

// WriteToAddress implements memberlist.NodeAwareTransport.
func (t *sockTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return t.WriteTo(b, a.Addr)
}

// PacketCh implements memberlist.Transport.
func (t *sockTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }

// DialTimeout implements memberlist.Transport.
func (t *sockTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	return d.Dial("tcp", addr)
}

// DialAddressTimeout implements memberlist.NodeAwareTransport.
func (t *sockTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

// StreamCh implements memberlist.Transport.
func (t *sockTransport) StreamCh() <-chan net.Conn { return t.streams }

// Shutdown implements memberlist.Transport: it closes this process's
// descriptors of the sockets (a duplicate handed to another process keeps
// them open there) and waits for the readers. memberlist stops draining
// the channels before it calls Shutdown: a reader blocked on a send is
// released by the drain below.
func (t *sockTransport) Shutdown() error {
	if t.closed.Swap(true) {
		return nil
	}
	close(t.stop)
	err := errors.Join(t.s.TCP.Close(), t.s.UDP.Close())
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	for {
		select {
		case <-done:
			return err
		case p := <-t.packets:
			_ = p
		case c := <-t.streams:
			_ = c.Close()
		}
	}
}
