package protocol

import (
	"fmt"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// Proxy-originated error codes. They sit in the 9000 range, like ProxySQL's,
// so that they never collide with a server's own codes.
const (
	// ErrCodeNoBackend: no server of the target hostgroup can take the query.
	ErrCodeNoBackend uint16 = 9001
	// ErrCodeBackendConnect: connecting to a backend failed or timed out.
	ErrCodeBackendConnect uint16 = 9002
	// ErrCodeBackendLost: the backend connection broke during the statement.
	ErrCodeBackendLost uint16 = 2013
	// ErrCodeInternal: a bug in rwproxy; the session is closed.
	ErrCodeInternal uint16 = 9003
)

// NewErrNoBackend reports that hostgroup hg has no usable server.
func NewErrNoBackend(hg int) *mysql.MyError {
	return &mysql.MyError{Code: ErrCodeNoBackend, State: "HY000",
		Message: fmt.Sprintf("rwproxy: no backend available in hostgroup %d", hg)}
}

// NewErrBackendConnect reports a failed backend connection.
func NewErrBackendConnect(addr string, err error) *mysql.MyError {
	return &mysql.MyError{Code: ErrCodeBackendConnect, State: "HY000",
		Message: fmt.Sprintf("rwproxy: cannot connect to backend %s: %v", addr, err)}
}

// NewErrBackendLost reports a backend connection that broke mid-statement.
func NewErrBackendLost(addr string) *mysql.MyError {
	return &mysql.MyError{Code: ErrCodeBackendLost, State: "HY000",
		Message: fmt.Sprintf("rwproxy: lost connection to backend %s during query", addr)}
}

// NewErrUnknownCommand is error 1047 for an unsupported command byte.
func NewErrUnknownCommand(cmd byte) *mysql.MyError {
	return &mysql.MyError{Code: mysql.ER_UNKNOWN_COM_ERROR, State: "08S01",
		Message: fmt.Sprintf("Unknown command %d", cmd)}
}

// NewErrPacketTooLarge is error 1153.
func NewErrPacketTooLarge() *mysql.MyError {
	return mysql.NewDefaultError(mysql.ER_NET_PACKET_TOO_LARGE)
}

// NewErrTooManyConnections is error 1040.
func NewErrTooManyConnections() *mysql.MyError {
	return mysql.NewDefaultError(mysql.ER_CON_COUNT_ERROR)
}

// NewErrMalformed is error 1835 (ER_MALFORMED_PACKET) for a request the
// proxy cannot decode.
func NewErrMalformed(what string) *mysql.MyError {
	return &mysql.MyError{Code: 1835, State: "HY000", Message: "Malformed communication packet: " + what}
}

// ErrCodeQueryTimeout is MySQL's ER_QUERY_TIMEOUT (3024), what a server
// answers when max_execution_time interrupts a statement; rwproxy answers
// it when a statement's query_timeout expired.
const ErrCodeQueryTimeout uint16 = 3024

// NewErrQueryTimeout reports a statement stopped by its query_timeout,
// with MySQL's own code, SQLSTATE and message for max_execution_time.
func NewErrQueryTimeout() *mysql.MyError {
	return &mysql.MyError{Code: ErrCodeQueryTimeout, State: "HY000",
		Message: "Query execution was interrupted, maximum statement execution time exceeded"}
}

// NewErrInternal reports a proxy bug to the client before the session closes.
func NewErrInternal() *mysql.MyError {
	return &mysql.MyError{Code: ErrCodeInternal, State: "HY000",
		Message: "rwproxy: internal error, session closed (see proxy log)"}
}

// ErrCodeConnLimit: the statement waited pool.wait_timeout for a backend
// connection and none freed (the server's max_connections in
// mysql_servers is reached). It is not a failover: it is never buffered.
const ErrCodeConnLimit uint16 = 9010

// NewErrConnLimit reports that hostgroup hg's server had no free
// connection within waited. SQLSTATE HY000, not 08004: the client's own
// connection is fine and the statement may be retried on it, while class
// 08 makes drivers (Connector/J, HikariCP) throw the connection away.
func NewErrConnLimit(hg int, waited time.Duration) *mysql.MyError {
	return &mysql.MyError{Code: ErrCodeConnLimit, State: "HY000",
		Message: fmt.Sprintf("rwproxy: backend connection limit reached for hostgroup %d (waited %.1fs)", hg, waited.Seconds())}
}
