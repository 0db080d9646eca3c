package protocol

import (
	"encoding/binary"
	"errors"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// ErrShortPacket is returned for a terminal packet too short to decode.
var ErrShortPacket = errors.New("protocol: short packet")

// OK is a decoded OK packet (CLIENT_PROTOCOL_41 and CLIENT_SESSION_TRACK,
// which rwproxy always negotiates with backends). Info and State alias the
// packet buffer: they are valid until the next read on that connection.
type OK struct {
	AffectedRows uint64
	InsertID     uint64
	Status       uint16
	Warnings     uint16
	Info         []byte
	// State is the raw session-state-change block (present when Status has
	// SERVER_SESSION_STATE_CHANGED).
	State []byte
}

// IsOK reports whether payload p is an OK packet in a response's first
// position (0x00 header).
func IsOK(p []byte) bool { return len(p) >= 7 && p[0] == mysql.OK_HEADER }

// IsEOF reports whether p is an EOF packet (0xfe header, shorter than 9
// bytes, which tells it apart from a row starting with a 0xfe length).
func IsEOF(p []byte) bool { return len(p) > 0 && len(p) < 9 && p[0] == mysql.EOF_HEADER }

// IsErr reports whether p is an ERR packet.
func IsErr(p []byte) bool { return len(p) > 0 && p[0] == mysql.ERR_HEADER }

// EOFStatus returns the status flags of an EOF packet.
func EOFStatus(p []byte) uint16 {
	if len(p) < 5 {
		return 0
	}
	return binary.LittleEndian.Uint16(p[3:5])
}

// EOFWarnings returns the warning count of an EOF packet.
func EOFWarnings(p []byte) uint16 {
	if len(p) < 3 {
		return 0
	}
	return binary.LittleEndian.Uint16(p[1:3])
}

// ParseOK decodes an OK packet sent with session tracking negotiated. A
// truncated packet is an error, never a panic.
func ParseOK(p []byte) (OK, error) {
	var ok OK
	if len(p) < 7 {
		return ok, ErrShortPacket
	}
	pos := 1
	var n int
	var good bool
	if ok.AffectedRows, n, good = lenEncInt(p[pos:]); !good {
		return ok, ErrShortPacket
	}
	pos += n
	if ok.InsertID, n, good = lenEncInt(p[pos:]); !good {
		return ok, ErrShortPacket
	}
	pos += n
	if len(p) < pos+4 {
		return ok, ErrShortPacket
	}
	ok.Status = binary.LittleEndian.Uint16(p[pos:])
	ok.Warnings = binary.LittleEndian.Uint16(p[pos+2:])
	pos += 4
	if pos >= len(p) {
		return ok, nil
	}
	info, n, good := lenEncString(p[pos:])
	if !good {
		// A server that did not length-prefix its info string.
		ok.Info = p[pos:]
		return ok, nil
	}
	ok.Info = info
	pos += n
	if ok.Status&mysql.SERVER_SESSION_STATE_CHANGED != 0 && pos < len(p) {
		if state, _, good := lenEncString(p[pos:]); good {
			ok.State = state
		}
	}
	return ok, nil
}

// AppendOKNoTrack appends (after a 4-byte header placeholder already in
// dst) the OK packet ok re-encoded for a client that did not negotiate
// CLIENT_SESSION_TRACK: no session state, info as a plain trailing string.
func AppendOKNoTrack(dst []byte, ok *OK) []byte {
	dst = append(dst, mysql.OK_HEADER)
	dst = mysql.AppendLengthEncodedInteger(dst, ok.AffectedRows)
	dst = mysql.AppendLengthEncodedInteger(dst, ok.InsertID)
	st := ok.Status &^ mysql.SERVER_SESSION_STATE_CHANGED
	dst = append(dst, byte(st), byte(st>>8), byte(ok.Warnings), byte(ok.Warnings>>8))
	return append(dst, ok.Info...)
}

// ParseErr decodes an ERR packet into a *mysql.MyError (copying strings).
func ParseErr(p []byte) *mysql.MyError {
	e := &mysql.MyError{State: mysql.DEFAULT_MYSQL_STATE}
	if len(p) < 3 {
		e.Code = mysql.ER_UNKNOWN_ERROR
		e.Message = "malformed error packet from backend"
		return e
	}
	e.Code = binary.LittleEndian.Uint16(p[1:3])
	pos := 3
	if len(p) >= 9 && p[3] == '#' {
		e.State = string(p[4:9])
		pos = 9
	}
	e.Message = string(p[pos:])
	return e
}

// AppendErr appends an ERR packet payload for e (protocol 41).
func AppendErr(dst []byte, e *mysql.MyError) []byte {
	dst = append(dst, mysql.ERR_HEADER, byte(e.Code), byte(e.Code>>8), '#')
	st := e.State
	if len(st) != 5 {
		st = mysql.DEFAULT_MYSQL_STATE
	}
	dst = append(dst, st...)
	return append(dst, e.Message...)
}

// StateEntry is one session-tracker entry of an OK packet.
type StateEntry struct {
	Type byte
	// Name and Value: for SESSION_TRACK_SYSTEM_VARIABLES the variable and
	// its new value; for SESSION_TRACK_SCHEMA, Name is the schema; for
	// SESSION_TRACK_GTIDS, Value is the GTID text. They alias the packet.
	Name, Value []byte
}

// WalkState calls fn for every entry of a session-state block. Unknown
// entry types are passed with their raw data in Value. A malformed block
// stops the walk with ErrShortPacket.
func WalkState(state []byte, fn func(StateEntry)) error {
	for len(state) > 0 {
		typ := state[0]
		data, n, ok := lenEncString(state[1:])
		if !ok {
			return ErrShortPacket
		}
		state = state[1+n:]
		e := StateEntry{Type: typ}
		switch typ {
		case mysql.SESSION_TRACK_SYSTEM_VARIABLES:
			name, k, ok := lenEncString(data)
			if !ok {
				return ErrShortPacket
			}
			val, _, ok := lenEncString(data[k:])
			if !ok {
				return ErrShortPacket
			}
			e.Name, e.Value = name, val
		case mysql.SESSION_TRACK_SCHEMA:
			name, _, ok := lenEncString(data)
			if !ok {
				return ErrShortPacket
			}
			e.Name = name
		case mysql.SESSION_TRACK_GTIDS:
			if len(data) > 1 {
				if v, _, ok := lenEncString(data[1:]); ok {
					e.Value = v
				}
			}
		default:
			e.Value = data
		}
		fn(e)
	}
	return nil
}
