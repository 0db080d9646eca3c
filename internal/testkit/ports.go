package testkit

import (
	"fmt"
	"os"
	"strconv"
)

// BasePort is the first port a test package's servers use: def, or the
// value of the environment variable env, so that two runs of one
// package (or a package and another user of def) can coexist on one
// machine. span is how many ports from it the package uses.
func BasePort(env string, def, span int) (int, error) {
	v := os.Getenv(env)
	if v == "" {
		return def, nil
	}
	p, err := strconv.Atoi(v)
	if err != nil || p < 1024 || p+span > 65535 {
		return 0, fmt.Errorf("%s=%q: want a port number in 1024..%d", env, v, 65535-span)
	}
	return p, nil
}
