package admin

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseTraffic(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want trafficCmd
		err  string
	}{
		{"TRAFFIC CAPTURE TO '/tmp/c' DURATION='10s'", trafficCmd{dir: "/tmp/c", dur: 10 * time.Second}, ""},
		{"traffic capture to \"/tmp/c\" redact", trafficCmd{dir: "/tmp/c", redact: true}, ""},
		{"TRAFFIC CAPTURE STOP", trafficCmd{stop: true}, ""},
		{"TRAFFIC CAPTURE TO '/tmp/c' DURATION='soon'", trafficCmd{}, "not a positive Go duration"},
		{"TRAFFIC CAPTURE TO '/tmp/c' DURATION='-1s'", trafficCmd{}, "not a positive Go duration"},
		{"TRAFFIC CAPTURE TO ''", trafficCmd{}, "unknown TRAFFIC command"},
		{"TRAFFIC CAPTURE TO '/tmp/c' FOREVER", trafficCmd{}, `unexpected "FOREVER"`},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			c, ok, err := parseTraffic(sig(lex(tc.sql)))
			require.True(t, ok)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, c)
		})
	}
	_, ok, _ := parseTraffic(sig(lex("SELECT 1")))
	require.False(t, ok)
}
