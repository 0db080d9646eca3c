package protocol

import (
	"fmt"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// PacketSink is where the relay sends the packets of a file the server
// asked for (LOAD DATA LOCAL INFILE): the backend connection. WritePacket
// takes a payload with 4 bytes of room for the header in front, as
// go-mysql's packet.Conn does.
type PacketSink interface {
	WritePacket(data []byte) error
}

// InfileRelay lets a Forward relay LOAD DATA LOCAL INFILE: when the
// server's response to COM_QUERY is a file request (0xFB), the request
// goes to the client, and the client's file packets, up to and including
// the empty one that ends the file, go to Backend one at a time, so that
// the file is never held in memory beyond one packet. The server's
// OK or ERR then ends the response as usual.
type InfileRelay struct {
	// Backend receives the file. Without it (nil) a file request is a
	// protocol error, as when the proxy issued the query itself.
	Backend PacketSink
	// Allowed: the client negotiated CLIENT_LOCAL_FILES. Otherwise the
	// server gets an empty file, its answer is consumed, and the client
	// gets ER_LOAD_INFILE_CAPABILITY_DISABLED.
	Allowed bool
	// MaxPacket bounds one file packet from the client (0: no bound).
	MaxPacket int
}

// ErrCodeLoadInfileDisabled is MariaDB's ER_LOAD_INFILE_CAPABILITY_DISABLED
// (MySQL answers 3948 with the same meaning).
const ErrCodeLoadInfileDisabled uint16 = 4166

// NewErrLoadInfileDisabled is the error a server returns for LOAD DATA
// LOCAL INFILE when the client did not enable local files.
func NewErrLoadInfileDisabled() *mysql.MyError {
	return &mysql.MyError{Code: ErrCodeLoadInfileDisabled, State: "42000",
		Message: "The used command is not allowed because the MariaDB server or client has disabled the local infile capability"}
}

// relayInfile handles a file request p (0xFB) in a Forward response. It
// returns done when the response has been completed for the client (a
// refusal); otherwise the caller goes on reading the server's answer.
func (r *Relay) relayInfile(client *ClientConn, backend PacketSource, p []byte, res *Response) (done bool, err error) {
	in := r.Infile
	if in == nil || in.Backend == nil {
		return true, ErrProtocol
	}
	if client == nil || !in.Allowed {
		// Send an empty file so the server ends the statement (it loads
		// nothing), consume what it answers, and refuse the client.
		if err := in.Backend.WritePacket(r.buf[:4]); err != nil {
			return true, fmt.Errorf("%w: %v", ErrBackendIO, err)
		}
		if _, err := r.Forward(nil, backend); err != nil {
			return true, err
		}
		res.Err = NewErrLoadInfileDisabled()
		if client == nil {
			return true, nil
		}
		r.out = AppendErr(append(r.out[:0], 0, 0, 0, 0), res.Err)
		return true, r.write(client, r.out, res)
	}
	if err := r.write(client, p, res); err != nil {
		return true, err
	}
	for {
		p, err := client.ReadPacket(r.buf[:4], in.MaxPacket)
		if err != nil {
			// The client is gone or broke the protocol (a packet over
			// MaxPacket): the session ends, and the server, waiting for
			// the rest of the file, leaves the backend connection
			// mid-protocol: the session discards it on any error.
			return true, fmt.Errorf("%w: reading LOAD DATA LOCAL file: %v", ErrClientIO, err)
		}
		r.buf = p
		res.Bytes += len(p) - 4
		if err := in.Backend.WritePacket(p); err != nil {
			return true, fmt.Errorf("%w: %v", ErrBackendIO, err)
		}
		if len(p) == 4 {
			return false, nil
		}
	}
}
