package protocol

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	perrors "github.com/pingcap/errors"
)

// Proxy-originated error codes. They sit in the 9000 range, like ProxySQL's,
// so that they never collide with a server's own codes.
const (
	// ErrCodeNoBackend: no server of the target hostgroup can take the query.
	ErrCodeNoBackend uint16 = 9001
	// ErrCodeBackendConnect: connecting to a backend failed or timed out.
	ErrCodeBackendConnect uint16 = 9002
	// ErrCodeBackendLost: the backend connection broke during the statement.
	// It is not the client library's CR_SERVER_LOST (2013): codes 2000-2999
	// are the client library's own, and libmariadb (Connector/C 3.3, which
	// sysbench and many drivers use) reports a server ERR packet carrying
	// 2013 as 2027 "Received malformed packet" (issue #21).
	ErrCodeBackendLost uint16 = 9020
	// ErrCodeInternal: a bug in rwproxy; the session is closed.
	ErrCodeInternal uint16 = 9003
)

// Client-visible messages name the condition and the hostgroup, never a
// backend address or a Go error: the detail goes to the proxy's log
// (docs/errors.md lists every code).

// NewErrNoBackend reports that hostgroup hg has no usable server (a
// hostgroup that is neither a reader nor a writer one, e.g. a query rule's
// destination).
func NewErrNoBackend(hg int) *mysql.MyError {
	return &mysql.MyError{Code: ErrCodeNoBackend, State: "HY000",
		Message: fmt.Sprintf("rwproxy: no server available in hostgroup %d", hg)}
}

// NewErrNoReader reports a read whose reader hostgroup hg has no usable
// server while reader_fallback is error.
func NewErrNoReader(hg int) *mysql.MyError {
	return &mysql.MyError{Code: ErrCodeNoBackend, State: "HY000",
		Message: fmt.Sprintf("rwproxy: no reader available in hostgroup %d", hg)}
}

// NewErrNoWriter reports a statement for writer hostgroup hg that found no
// usable writer, after waiting waited (the failover buffer; 0: it did not
// wait). reason, if not empty, says what the last attempt met
// ("connection refused", "connect timed out").
func NewErrNoWriter(hg int, waited time.Duration, reason string) *mysql.MyError {
	msg := fmt.Sprintf("rwproxy: no writer available in hostgroup %d", hg)
	if waited > 0 {
		msg += fmt.Sprintf(" after waiting %.1fs", waited.Seconds())
	}
	if reason != "" {
		msg += " (last attempt: " + reason + ")"
	}
	return &mysql.MyError{Code: ErrCodeNoBackend, State: "HY000", Message: msg}
}

// NewErrBackendConnect reports that connecting to a server of hostgroup hg
// failed; err (logged by the caller, not shown) is summarised by
// ConnectReason.
func NewErrBackendConnect(hg int, err error) *mysql.MyError {
	return &mysql.MyError{Code: ErrCodeBackendConnect, State: "HY000",
		Message: fmt.Sprintf("rwproxy: cannot connect to a server of hostgroup %d: %s", hg, ConnectReason(err))}
}

// ConnectReason names the condition behind a failed backend connection in
// a few words, without the address or the Go error chain.
func ConnectReason(err error) string {
	if c := perrors.Cause(err); c != nil && c != err {
		// go-mysql wraps with pingcap/errors, which errors.Is cannot see through.
		if r := ConnectReason(c); r != "network error" {
			return r
		}
	}
	var (
		nerr    net.Error
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		inval   x509.CertificateInvalidError
		verify  *tls.CertificateVerificationError
	)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "host unreachable"
	case errors.As(err, &unknown), errors.As(err, &host), errors.As(err, &inval), errors.As(err, &verify):
		return "TLS certificate verification failed"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &nerr) && nerr.Timeout():
		return "connect timed out (pool.connect_timeout)"
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		return "connection closed by the server during the handshake"
	case strings.Contains(err.Error(), "i/o timeout"):
		return "connect timed out (pool.connect_timeout)"
	}
	return "network error"
}

// NewErrBackendLost reports a backend connection that broke mid-statement
// before any byte of its reply reached the client (the statement's outcome
// on the server is unknown). The client connection stays usable.
func NewErrBackendLost(addr string) *mysql.MyError {
	_ = addr // logged by the caller
	return &mysql.MyError{Code: ErrCodeBackendLost, State: "HY000",
		Message: "rwproxy: lost the connection to the server during the statement; its outcome is unknown " +
			"(a write may have been applied)"}
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

// ErrCodePaused is the error of a client connecting while the proxy is
// paused (PROXYSQL PAUSE on the admin interface): it takes no new client
// connection.
const ErrCodePaused uint16 = 9040

// NewErrPaused is sent in place of the greeting to a client connecting
// while the proxy is paused. SQLSTATE 08004: the server rejected the
// connection, which drivers retry elsewhere.
func NewErrPaused() *mysql.MyError {
	return &mysql.MyError{Code: ErrCodePaused, State: "08004",
		Message: "rwproxy: paused (PROXYSQL PAUSE): not taking new connections; connect to another proxy or retry later"}
}

// ErrCodeConnLimit is the error of a statement that waited
// pool.wait_timeout for a backend connection and none freed (the server's
// max_connections in mysql_servers is reached). It is not a failover: it
// is never buffered.
const ErrCodeConnLimit uint16 = 9010

// NewErrConnLimit reports that hostgroup hg's server had no free
// connection within waited. SQLSTATE HY000, not 08004: the client's own
// connection is fine and the statement may be retried on it, while class
// 08 makes drivers (Connector/J, HikariCP) throw the connection away.
func NewErrConnLimit(hg int, waited time.Duration) *mysql.MyError {
	return &mysql.MyError{Code: ErrCodeConnLimit, State: "HY000",
		Message: fmt.Sprintf("rwproxy: backend connection limit reached for hostgroup %d (waited %.1fs)", hg, waited.Seconds())}
}

// ErrCodeFirewall is the error of a statement the firewall refused: it is
// not in its user's allow-list (firewall.users[].mode: enforce).
const ErrCodeFirewall uint16 = 9030

// NewErrFirewall is the error for a statement the firewall refused; it
// names the digest hash to add to the allow-list, not the statement.
func NewErrFirewall(user, digest string) *mysql.MyError {
	return &mysql.MyError{Code: ErrCodeFirewall, State: "42000",
		Message: fmt.Sprintf("rwproxy: statement blocked by the firewall: digest %s is not in the allow-list of user '%s'", digest, user)}
}
