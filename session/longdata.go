package session

import (
	"encoding/binary"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// Long data (COM_STMT_SEND_LONG_DATA) is held by the proxy until the
// statement's next execute, when it is sent to whichever backend
// connection runs it. The client gets no reply to a chunk, so a client
// could send chunks forever: one parameter is bounded by max_allowed_packet
// as on MySQL, and everything one session holds by limits.max_long_data.
// Past either bound the statement enters MySQL's error state: further
// chunks are dropped, and its next execute answers the error (and clears
// it) instead of running.

// longData is what one prepared statement holds for its next execute.
type longData struct {
	chunks [][]byte
	// sizes is the bytes received per parameter (index = parameter).
	sizes []int
	// held is the packet bytes held in chunks (what the session counts).
	held int
	// err answers the next execute instead of running it.
	err *mysql.MyError
}

// errLongDataTooLong is MySQL's reply to the execute after a parameter's
// long data went past max_allowed_packet (MySQL 8.4 and MariaDB alike).
func errLongDataTooLong() *mysql.MyError {
	return &mysql.MyError{Code: mysql.ER_UNKNOWN_ERROR, State: "HY000",
		Message: "Parameter of prepared statement which is set through mysql_send_long_data() is longer than 'max_allowed_packet' bytes"}
}

// errLongDataSession is the same condition for the session's total
// (limits.max_long_data).
func errLongDataSession() *mysql.MyError {
	return &mysql.MyError{Code: mysql.ER_UNKNOWN_ERROR, State: "HY000",
		Message: "Parameters of prepared statements set through mysql_send_long_data() hold more than rwproxy's limits.max_long_data bytes in this session"}
}

// addLongData records one COM_STMT_SEND_LONG_DATA packet (with its header)
// for ps, or puts ps in the error state.
func (s *Session) addLongData(ps *prepared, pkt []byte) {
	ld := &ps.long
	if ld.err != nil {
		return
	}
	param := int(binary.LittleEndian.Uint16(pkt[9:11]))
	if param >= ps.params {
		s.failLongData(ps, mysql.NewDefaultError(mysql.ER_WRONG_ARGUMENTS, "mysqld_stmt_send_long_data"))
		return
	}
	if len(ld.sizes) < ps.params {
		ld.sizes = make([]int, ps.params)
	}
	n := len(pkt) - 11
	if ld.sizes[param]+n > s.cmd.max {
		s.failLongData(ps, errLongDataTooLong())
		return
	}
	if s.longHeld+len(pkt) > s.d.Config().Limits.LongDataLimit() {
		s.failLongData(ps, errLongDataSession())
		return
	}
	ld.sizes[param] += n
	ld.chunks = append(ld.chunks, append([]byte(nil), pkt...))
	ld.held += len(pkt)
	s.longHeld += len(pkt)
}

// failLongData drops what ps holds and keeps err for its next execute.
func (s *Session) failLongData(ps *prepared, err *mysql.MyError) {
	s.clearLongData(ps)
	ps.long.err = err
}

// clearLongData drops what ps holds, error state included.
func (s *Session) clearLongData(ps *prepared) {
	s.longHeld -= ps.long.held
	ps.long = longData{}
}
