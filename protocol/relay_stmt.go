package protocol

import (
	"encoding/binary"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// PrepareOK is the head of a COM_STMT_PREPARE response.
type PrepareOK struct {
	StmtID  uint32
	Columns int
	Params  int
}

// readPrepareHead reads the first packet of a prepare response.
func (r *Relay) readPrepareHead(backend PacketSource) (PrepareOK, *mysql.MyError, error) {
	var h PrepareOK
	p, err := r.read(backend)
	if err != nil {
		return h, nil, err
	}
	pl := p[4:]
	if IsErr(pl) {
		return h, ParseErr(pl), nil
	}
	if len(pl) < 9 || pl[0] != mysql.OK_HEADER {
		return h, nil, ErrProtocol
	}
	h.StmtID = binary.LittleEndian.Uint32(pl[1:5])
	h.Columns = int(binary.LittleEndian.Uint16(pl[5:7]))
	h.Params = int(binary.LittleEndian.Uint16(pl[7:9]))
	return h, nil, nil
}

// definitions relays (or, with client nil, skips) the parameter and column
// definition blocks that follow a prepare OK.
func (r *Relay) definitions(client *ClientConn, backend PacketSource, h PrepareOK, res *Response) error {
	for _, n := range [2]int{h.Params, h.Columns} {
		if n == 0 {
			continue
		}
		for i := 0; i <= n; i++ { // n definitions, then EOF
			p, err := r.read(backend)
			if err != nil {
				return err
			}
			if i == n && !IsEOF(p[4:]) {
				return ErrProtocol
			}
			if err := r.write(client, p, res); err != nil {
				return err
			}
		}
	}
	return nil
}

// ForwardPrepare relays a COM_STMT_PREPARE response, replacing the
// backend's statement id with clientID, so that the client sees the real
// parameter and column definitions.
func (r *Relay) ForwardPrepare(client *ClientConn, backend PacketSource, clientID uint32) (Response, PrepareOK, error) {
	var res Response
	defer r.Done()
	h, me, err := r.readPrepareHead(backend)
	if err != nil {
		return res, h, err
	}
	if me != nil {
		res.Err = me
		return res, h, r.write(client, r.buf, &res)
	}
	binary.LittleEndian.PutUint32(r.buf[5:9], clientID)
	if err := r.write(client, r.buf, &res); err != nil {
		return res, h, err
	}
	return res, h, r.definitions(client, backend, h, &res)
}

// Prepare consumes a COM_STMT_PREPARE response the proxy sent for itself
// (re-preparing on another backend connection).
func (r *Relay) Prepare(backend PacketSource) (PrepareOK, *mysql.MyError, error) {
	defer r.Done()
	h, me, err := r.readPrepareHead(backend)
	if err != nil || me != nil {
		return h, me, err
	}
	var res Response
	return h, nil, r.definitions(nil, backend, h, &res)
}
