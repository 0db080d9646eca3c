package admin

import (
	"database/sql/driver"
	"fmt"
	"regexp"

	"modernc.org/sqlite"
)

// SQL functions used by the CHECK constraints of the MEMORY tables, so
// that a bad regular expression or variable value is refused at INSERT or
// UPDATE time with a message saying why.
const (
	fnCheckRegexp   = "rwproxy_check_regexp"
	fnCheckVariable = "rwproxy_check_variable"
	// fnCheckUnsupported(column, value, reason) refuses a non-zero value
	// of a ProxySQL column rwproxy has no equivalent for.
	fnCheckUnsupported = "rwproxy_check_unsupported"
)

func init() {
	sqlite.MustRegisterDeterministicScalarFunction(fnCheckRegexp, 2, checkRegexpFunc)
	sqlite.MustRegisterDeterministicScalarFunction(fnCheckVariable, 2, checkVariableFunc)
	sqlite.MustRegisterDeterministicScalarFunction(fnCheckUnsupported, 3, checkUnsupportedFunc)
}

// checkUnsupportedFunc(column, value, reason) is 1 when value is 0 or
// NULL, else an error naming the column and saying why.
func checkUnsupportedFunc(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	if args[1] == nil || asInt(args[1]) == 0 {
		return int64(1), nil
	}
	return nil, fmt.Errorf("%s%v: %v", checkFailed, args[0], args[2])
}

// checkRegexpFunc(column, pattern) is 1 when pattern is NULL, empty or a
// valid regular expression as the router compiles it (Go RE2 syntax,
// case-insensitive), else an error naming the column.
func checkRegexpFunc(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	s, ok := args[1].(string)
	if !ok || s == "" {
		return int64(1), nil
	}
	if _, err := regexp.Compile("(?i)" + s); err != nil {
		return nil, fmt.Errorf("%s%v: %q is not a valid regular expression (Go RE2 syntax): %v", checkFailed, args[0], s, err)
	}
	return int64(1), nil
}

// checkVariableFunc(name, value) is 1 for a known variable with a valid
// value, else an error saying what is wrong.
func checkVariableFunc(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	name, val := asString(args[0]), asString(args[1])
	if err := checkVariable(name, val); err != nil {
		if _, known := lookupVariable(name); known {
			return nil, fmt.Errorf("%s%s: %v", checkFailed, name, err)
		}
		return nil, fmt.Errorf("%s%v", checkFailed, err)
	}
	return int64(1), nil
}
