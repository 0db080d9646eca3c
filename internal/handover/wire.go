package handover

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
)

// ProtocolVersion is the handover protocol this binary speaks. A new
// process refuses an old one with another version (and the old one keeps
// serving).
const ProtocolVersion = 1

// maxMessage bounds one message (a configuration with many users and
// rules is the largest).
const maxMessage = 64 << 20

// maxFDs bounds the descriptors one message carries (the listeners).
const maxFDs = 8

// Message types, in protocol order.
const (
	msgHello     = "hello"     // new → old: ProtocolVersion, PID
	msgConfig    = "config"    // old → new: the running configuration (YAML)
	msgListeners = "listeners" // old → new: the listening sockets (fds)
	msgReady     = "ready"     // new → old: serving on the inherited sockets
	msgSession   = "session"   // old → new: a session (Durable) + its client socket
	msgAck       = "ack"       // new → old: the session is served here now
	msgNack      = "nack"      // new → old: it is not (Err); the old process keeps it
	msgDone      = "done"      // old → new: no session left, the old process exits
	msgAbort     = "abort"     // either way: the upgrade is given up (Err)
	// With featureTakeback (takeback.go): the new process serves the
	// sessions it received only once the old one commits them.
	msgCommit = "commit" // old → new: serve every session received so far
	msgTaken  = "taken"  // new → old: served here from now on (answers commit and done)
)

// message is one protocol message; which fields are set depends on Type.
type message struct {
	Type      string          `json:"type"`
	Version   int             `json:"version,omitempty"`
	PID       int             `json:"pid,omitempty"`
	Config    []byte          `json:"config,omitempty"`
	Listeners []Listening     `json:"listeners,omitempty"`
	Session   json.RawMessage `json:"session,omitempty"`
	ID        uint32          `json:"id,omitempty"`
	Err       string          `json:"err,omitempty"`
	// FailAt (spawn): the phase the new process dies at (tests only,
	// FailAtEnv of `rwproxy upgrade`).
	FailAt string `json:"fail_at,omitempty"`
	// ConnID (config): the new process gives its own clients connection
	// ids above it (the adopted sessions keep theirs, all below it).
	ConnID uint32 `json:"conn_id,omitempty"`
	// Stats (done): the old process's upgrade counters.
	Stats *Snapshot `json:"stats,omitempty"`
	// Monitor (config): the old monitor's view (monitor.View); absent
	// from an older binary, whose successor's monitor starts afresh.
	Monitor json.RawMessage `json:"monitor,omitempty"`
	// Gossip (listeners): the cluster node's gossip port follows the
	// listening sockets' descriptors (TCP, then UDP); absent when no
	// cluster node runs (or from an older binary).
	Gossip *GossipInfo `json:"gossip,omitempty"`
	// Features (hello): what the new binary can take beyond protocol
	// version 1 (featureGossip, featureTakeback); an older binary sends
	// none, and the old process then keeps to what it knows. (config):
	// what the old process uses of them (featureTakeback).
	Features []string `json:"features,omitempty"`
}

// featureGossip: the new binary takes the gossip port with the listeners
// (an older one would refuse the extra descriptors).
const featureGossip = "gossip"

// featureTakeback: the new binary serves handed-over sessions only when
// the old process commits them (msgCommit, msgDone → msgTaken); the old
// one announces it uses it in its config message. With an older binary on
// either side, a session is the new process's at its ack.
const featureTakeback = "takeback"

// GossipInfo describes a handed-over gossip port: the address the
// configuration gives it (cluster.bind), the node's name and the peers
// alive when the old node stopped.
type GossipInfo struct {
	Addr  string   `json:"addr"`
	Name  string   `json:"name"`
	Peers []string `json:"peers,omitempty"`
}

// Listening describes one handed-over listening socket: its role (client,
// admin, http) and the address the configuration gives for it.
type Listening struct {
	Role string `json:"role"`
	Addr string `json:"addr"`
}

// conn is one end of the handover socket. Writes and reads each belong to
// one goroutine at a time.
type conn struct {
	uc *net.UnixConn
	// first is a message already read (Upgrader.handle), recv returns
	// it first.
	first *message
}

// send writes m with fds attached (SCM_RIGHTS on the message's first byte).
func (c *conn) send(m *message, fds ...int) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	b := make([]byte, 4, 4+len(body))
	binary.BigEndian.PutUint32(b, uint32(len(body)))
	b = append(b, body...)
	var oob []byte
	if len(fds) > 0 {
		oob = syscall.UnixRights(fds...)
	}
	n, oobn, err := c.uc.WriteMsgUnix(b, oob, nil)
	if err != nil {
		return err
	}
	if oobn != len(oob) {
		return errors.New("handover: descriptors not sent")
	}
	if n < len(b) {
		_, err = c.uc.Write(b[n:])
	}
	return err
}

// recv reads one message and the descriptors sent with it, as files the
// caller owns.
func (c *conn) recv() (*message, []*os.File, error) {
	if m := c.first; m != nil {
		c.first = nil
		return m, nil, nil
	}
	var hdr [4]byte
	fds, err := c.readFull(hdr[:])
	if err != nil {
		return nil, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxMessage {
		closeFiles(fds)
		return nil, nil, fmt.Errorf("handover: message of %d bytes", n)
	}
	body := make([]byte, n)
	more, err := c.readFull(body)
	fds = append(fds, more...)
	if err != nil {
		closeFiles(fds)
		return nil, nil, err
	}
	var m message
	if err := json.Unmarshal(body, &m); err != nil {
		closeFiles(fds)
		return nil, nil, fmt.Errorf("handover: %w", err)
	}
	return &m, fds, nil
}

// readFull fills b, collecting the descriptors that arrive with it. It
// never reads past b, so a message's descriptors (sent with its first
// byte) never arrive with the previous message.
func (c *conn) readFull(b []byte) ([]*os.File, error) {
	var files []*os.File
	oob := make([]byte, syscall.CmsgSpace(maxFDs*4))
	for got := 0; got < len(b); {
		n, oobn, _, _, err := c.uc.ReadMsgUnix(b[got:], oob)
		if oobn > 0 {
			fs, perr := parseRights(oob[:oobn])
			files = append(files, fs...)
			if perr != nil {
				closeFiles(files)
				return nil, perr
			}
		}
		got += n
		if err != nil {
			if errors.Is(err, io.EOF) && got > 0 && got < len(b) {
				err = io.ErrUnexpectedEOF
			}
			closeFiles(files)
			return nil, err
		}
		if n == 0 {
			closeFiles(files)
			return nil, io.EOF
		}
	}
	return files, nil
}

func parseRights(oob []byte) ([]*os.File, error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var files []*os.File
	for i := range msgs {
		fds, err := syscall.ParseUnixRights(&msgs[i])
		if err != nil {
			continue
		}
		for _, fd := range fds {
			syscall.CloseOnExec(fd)
			files = append(files, os.NewFile(uintptr(fd), "handover"))
		}
	}
	return files, nil
}

func closeFiles(fs []*os.File) {
	for _, f := range fs {
		_ = f.Close()
	}
}

// connFD runs fn with the descriptor of nc (a TCP connection), without
// duplicating it.
func connFD(nc net.Conn, fn func(fd int) error) error {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return fmt.Errorf("handover: %T has no descriptor", nc)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}
