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
)

func init() {
	sqlite.MustRegisterDeterministicScalarFunction(fnCheckRegexp, 2, checkRegexpFunc)
	sqlite.MustRegisterDeterministicScalarFunction(fnCheckVariable, 2, checkVariableFunc)
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
