package protocol

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cespare/xxhash/v2"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// Errors returned by the relay, telling which side of the proxy failed:
// a client error means the client is gone; a backend error means the
// backend connection is broken and must be discarded.
var (
	ErrClientIO  = errors.New("client i/o")
	ErrBackendIO = errors.New("backend i/o")
	// ErrProtocol is an unexpected packet from the backend.
	ErrProtocol = errors.New("backend protocol violation")
	// ErrWithheld is Forward's error when Withhold kept the backend's ERR
	// packet from the client (Response.Err holds it; nothing was sent).
	// The backend connection is intact and idle.
	ErrWithheld = errors.New("backend error withheld from the client")
)

// maxPooledBuf bounds the relay buffers kept for reuse: a huge row grows
// the buffer for its response only.
const maxPooledBuf = 1 << 20

// relayBufs are the relay buffers of the responses in flight: shared by
// every session, so an idle session holds none.
var relayBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, 16*1024)
	return &b
}}

// Relay copies backend responses to a client packet by packet: rows are not
// decoded, only terminal packets (OK, ERR, EOF) are parsed. A Relay belongs
// to one session and reuses its buffer, so a relayed row costs no heap
// allocation in steady state.
type Relay struct {
	// buf is the response being relayed, in *bufp (from relayBufs) while
	// a response is in flight; both nil between responses.
	buf  []byte
	bufp *[]byte
	out  []byte
	// ClientTrack: the client negotiated CLIENT_SESSION_TRACK, so OK packets
	// pass through unchanged; otherwise they are re-encoded without it.
	ClientTrack bool
	// OnOK, when set, sees every OK packet (each statement of a multi-result).
	OnOK func(*OK)
	// OnErr, when set, sees the ERR packet that ends a Forward response
	// before it reaches the client, and may return an error to send in
	// its place (nil: relay the packet unchanged). It runs only on errors,
	// so it costs nothing on the rows' path.
	OnErr func(*mysql.MyError) *mysql.MyError
	// Withhold, when set, sees the ERR packet that ends a Forward response
	// of which nothing reached the client yet; true keeps it from the
	// client: Forward returns ErrWithheld, with the error in Response.Err,
	// and the caller answers the request itself (transaction replay on a
	// demoted primary's read-only refusal).
	Withhold func(*mysql.MyError) bool
	// Infile, when set, relays LOAD DATA LOCAL INFILE file requests
	// (relay_infile.go); without it a file request is a protocol error.
	Infile *InfileRelay
	// RowSum, when set, makes Forward sum the rows' hashes into
	// Response.RowSum (a traffic capture's result checksum).
	RowSum bool
	// Tap, when set, sees the payload of every packet written to the
	// client, as written (the query cache records a result with it). It
	// must copy what it keeps: the buffer is reused.
	Tap func(payload []byte)
}

// Response summarises one relayed response.
type Response struct {
	// Status is the server status of the last terminal packet.
	Status uint16
	// HasStatus: a terminal OK or EOF packet carried Status (a prepare
	// response, COM_STATISTICS' reply and ERR packets carry none).
	HasStatus bool
	// Warnings is the warning count of the last terminal packet.
	Warnings uint16
	// Err is the backend's ERR packet, already passed to the client.
	Err *mysql.MyError
	// Sent reports whether any packet reached the client.
	Sent bool
	// Bytes is the number of payload bytes relayed.
	Bytes int
	// Rows counts row packets.
	Rows int
	// Affected sums the affected rows of the OK packets relayed.
	Affected uint64
	// RowSum is the sum of the xxhash64 of each row packet's payload
	// (with Relay.RowSum): a checksum of the rows that does not depend on
	// their order.
	RowSum uint64
}

func (r *Relay) read(b PacketSource) ([]byte, error) {
	if r.bufp == nil {
		r.bufp = relayBufs.Get().(*[]byte)
		r.buf = (*r.bufp)[:4]
	}
	p, err := b.ReadPacketReuseMem(r.buf[:4])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBackendIO, err)
	}
	r.buf = p
	return p, nil
}

func (r *Relay) write(c *ClientConn, p []byte, res *Response) error {
	res.Bytes += len(p) - 4
	if c == nil {
		return nil
	}
	res.Sent = true
	if r.Tap != nil {
		r.Tap(p[4:])
	}
	if err := c.WritePacket(p); err != nil {
		return fmt.Errorf("%w: %v", ErrClientIO, err)
	}
	return nil
}

// Done ends a response: the buffer goes back to the pool (an oversized
// one to the garbage collector), so a session between requests holds none.
func (r *Relay) Done() {
	if r.bufp == nil {
		return
	}
	if cap(r.buf) <= maxPooledBuf {
		*r.bufp = r.buf[:0]
		relayBufs.Put(r.bufp)
	}
	r.bufp, r.buf = nil, nil
}

// Forward relays the response to one COM_QUERY or COM_STMT_EXECUTE,
// including every result of a multi-result response. client may be nil to
// consume a response the proxy issued for itself.
func (r *Relay) Forward(client *ClientConn, backend PacketSource) (Response, error) {
	var res Response
	defer r.Done()
	for {
		p, err := r.read(backend)
		if err != nil {
			return res, err
		}
		pl := p[4:]
		if len(pl) == 0 {
			return res, ErrProtocol
		}
		switch {
		case IsErr(pl):
			return res, r.forwardErr(client, p, &res)
		case pl[0] == mysql.OK_HEADER:
			more, err := r.forwardOK(client, p, &res)
			if err != nil || !more {
				return res, err
			}
		case pl[0] == mysql.LocalInFile_HEADER:
			done, err := r.relayInfile(client, backend, p, &res)
			if err != nil || done {
				return res, err
			}
		default:
			more, err := r.forwardResultset(client, backend, &res)
			if err != nil || !more {
				return res, err
			}
		}
	}
}

// forwardErr relays the ERR packet p that ends a response, or the error
// OnErr replaces it with; res.Err is what the client got.
func (r *Relay) forwardErr(client *ClientConn, p []byte, res *Response) error {
	res.Err = ParseErr(p[4:])
	if r.Withhold != nil && client != nil && !res.Sent && r.Withhold(res.Err) {
		return ErrWithheld
	}
	if r.OnErr != nil {
		if me := r.OnErr(res.Err); me != nil {
			res.Err = me
			r.out = AppendErr(append(r.out[:0], 0, 0, 0, 0), me)
			return r.write(client, r.out, res)
		}
	}
	return r.write(client, p, res)
}

func (r *Relay) forwardOK(client *ClientConn, p []byte, res *Response) (bool, error) {
	ok, err := ParseOK(p[4:])
	if err != nil {
		return false, ErrProtocol
	}
	res.Status, res.HasStatus = ok.Status, true
	res.Warnings = ok.Warnings
	res.Affected += ok.AffectedRows
	if r.OnOK != nil {
		r.OnOK(&ok)
	}
	if r.ClientTrack || client == nil {
		err = r.write(client, p, res)
	} else {
		r.out = AppendOKNoTrack(append(r.out[:0], 0, 0, 0, 0), &ok)
		err = r.write(client, r.out, res)
	}
	return ok.Status&mysql.SERVER_MORE_RESULTS_EXISTS != 0, err
}

// forwardResultset relays column count (already in r.buf), column
// definitions, EOF, rows and the closing EOF or ERR.
func (r *Relay) forwardResultset(client *ClientConn, backend PacketSource, res *Response) (bool, error) {
	n, _, ok := lenEncInt(r.buf[4:])
	if !ok || n == 0 {
		return false, ErrProtocol
	}
	if err := r.write(client, r.buf, res); err != nil {
		return false, err
	}
	// n column definitions, then EOF.
	for i := uint64(0); i <= n; i++ {
		p, err := r.read(backend)
		if err != nil {
			return false, err
		}
		if i == n && !IsEOF(p[4:]) {
			return false, ErrProtocol
		}
		if err := r.write(client, p, res); err != nil {
			return false, err
		}
	}
	for {
		p, err := r.read(backend)
		if err != nil {
			return false, err
		}
		pl := p[4:]
		switch {
		case IsEOF(pl):
			res.Status, res.HasStatus = EOFStatus(pl), true
			res.Warnings = EOFWarnings(pl)
			if err := r.write(client, p, res); err != nil {
				return false, err
			}
			return res.Status&mysql.SERVER_MORE_RESULTS_EXISTS != 0, nil
		case IsErr(pl):
			return false, r.forwardErr(client, p, res)
		}
		res.Rows++
		if r.RowSum {
			res.RowSum += xxhash.Sum64(pl)
		}
		if err := r.write(client, p, res); err != nil {
			return false, err
		}
	}
}

// ForwardFieldList relays a COM_FIELD_LIST response: column definitions up
// to EOF, or an ERR.
func (r *Relay) ForwardFieldList(client *ClientConn, backend PacketSource) (Response, error) {
	var res Response
	defer r.Done()
	for {
		p, err := r.read(backend)
		if err != nil {
			return res, err
		}
		pl := p[4:]
		if IsErr(pl) {
			res.Err = ParseErr(pl)
			return res, r.write(client, p, &res)
		}
		if err := r.write(client, p, &res); err != nil {
			return res, err
		}
		if IsEOF(pl) {
			res.Status, res.HasStatus = EOFStatus(pl), true
			return res, nil
		}
	}
}

// ForwardOne relays exactly one packet (COM_STATISTICS' reply).
func (r *Relay) ForwardOne(client *ClientConn, backend PacketSource) (Response, error) {
	var res Response
	defer r.Done()
	p, err := r.read(backend)
	if err != nil {
		return res, err
	}
	if IsErr(p[4:]) {
		res.Err = ParseErr(p[4:])
	}
	return res, r.write(client, p, &res)
}

// WriteRaw writes p (with a 4-byte header placeholder) to the client.
func WriteRaw(client *ClientConn, p []byte) error {
	if err := client.WritePacket(p); err != nil {
		return fmt.Errorf("%w: %v", ErrClientIO, err)
	}
	return nil
}
