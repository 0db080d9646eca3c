package testkit

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBasePort(t *testing.T) {
	const env = "RWPROXY_TESTKIT_PORTS_TEST"
	p, err := BasePort(env, 23400, 3)
	require.NoError(t, err)
	require.Equal(t, 23400, p)

	t.Setenv(env, "31000")
	p, err = BasePort(env, 23400, 3)
	require.NoError(t, err)
	require.Equal(t, 31000, p)

	for _, bad := range []string{"x", "80", "65534"} {
		t.Setenv(env, bad)
		_, err = BasePort(env, 23400, 3)
		require.ErrorContains(t, err, env+`="`+bad+`"`)
	}
}
