package admin

import (
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// MySQL error codes the admin interface returns.
const (
	erUnknown        = mysql.ER_UNKNOWN_ERROR                   // 1105
	erSyntax         = mysql.ER_PARSE_ERROR                     // 1064
	erEmptyQuery     = mysql.ER_EMPTY_QUERY                     // 1065
	erBadDB          = mysql.ER_BAD_DB_ERROR                    // 1049
	erNoSuchThread   = mysql.ER_NO_SUCH_THREAD                  // 1094
	erNoSuchTable    = mysql.ER_NO_SUCH_TABLE                   // 1146
	erBadField       = mysql.ER_BAD_FIELD_ERROR                 // 1054
	erDupEntry       = mysql.ER_DUP_ENTRY                       // 1062
	erBadNull        = mysql.ER_BAD_NULL_ERROR                  // 1048
	erWrongValue     = mysql.ER_TRUNCATED_WRONG_VALUE_FOR_FIELD // 1366
	erReadOnly       = mysql.ER_OPEN_AS_READONLY                // 1036
	erUnsupportedPS  = mysql.ER_UNSUPPORTED_PS                  // 1295
	erNotSupported   = mysql.ER_NOT_SUPPORTED_YET               // 1235
	erCheckViolation = 3819                                     // ER_CHECK_CONSTRAINT_VIOLATED (MySQL 8.0.16+)
	erQueryTimeout   = 3024                                     // ER_QUERY_TIMEOUT (max_execution_time exceeded)
	erResultTooLarge = mysql.ER_OUT_OF_RESOURCES                // 1041
)

var errEmptyQuery = newError(erEmptyQuery, "Query was empty")

// newError builds a client-visible error; the SQLSTATE comes from the code.
func newError(code uint16, msg string) *mysql.MyError {
	state, ok := mysql.MySQLState[code]
	if !ok {
		state = mysql.DEFAULT_MYSQL_STATE
	}
	return &mysql.MyError{Code: code, Message: msg, State: state}
}

// checkFailed prefixes the errors of the CHECK functions so that sqlError
// can tell them from other SQLite errors.
const checkFailed = "check failed: "

// sqliteNoise matches what the driver adds around SQLite's message.
var (
	sqliteCodeSuffix = regexp.MustCompile(` \(\d+\)$`)
	sqlitePrefixes   = []string{"SQL logic error: ", "constraint failed: ", "not authorized: ", "not authorized"}
)

// sqlError turns a SQLite error into a MySQL error with a fitting code and
// SQLite's own message, which names the table, column or constraint.
// denied is the authorizer's reason when it refused the statement.
func sqlError(err error, denied string) error {
	var me *mysql.MyError
	if errors.As(err, &me) {
		return me
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return newError(erUnknown, err.Error())
	}
	msg := cleanMessage(err.Error())
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return newError(erDupEntry, "Duplicate entry: "+msg)
	case sqlite3.SQLITE_CONSTRAINT_CHECK:
		return newError(erCheckViolation, msg)
	case sqlite3.SQLITE_CONSTRAINT_NOTNULL:
		return newError(erBadNull, msg)
	case sqlite3.SQLITE_CONSTRAINT_DATATYPE:
		return newError(erWrongValue, msg)
	case sqlite3.SQLITE_AUTH:
		if denied != "" {
			return newError(erReadOnly, denied)
		}
		return newError(erReadOnly, "not allowed on the admin interface")
	}
	switch {
	case strings.Contains(msg, checkFailed):
		return newError(erCheckViolation, msg[strings.Index(msg, checkFailed)+len(checkFailed):])
	case strings.Contains(msg, "no such table"):
		return newError(erNoSuchTable, msg)
	case strings.Contains(msg, "no such column") || strings.Contains(msg, "has no column named"):
		return newError(erBadField, msg)
	case strings.Contains(msg, "syntax error") || strings.Contains(msg, "incomplete input"):
		return newError(erSyntax, msg+" (the admin interface speaks SQLite's SQL, as ProxySQL's does)")
	}
	return newError(erUnknown, msg)
}

// cleanMessage strips the driver's decorations from a SQLite message,
// keeping any context the engine prefixed.
func cleanMessage(msg string) string {
	msg = sqliteCodeSuffix.ReplaceAllString(msg, "")
	for _, p := range sqlitePrefixes {
		msg = strings.Replace(msg, p, "", 1)
	}
	return strings.TrimSpace(msg)
}

// textValue converts a SQLite value to what the text protocol sends.
func textValue(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return x
	case []byte:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		if x {
			return "1"
		}
		return "0"
	}
	return asString(v)
}
