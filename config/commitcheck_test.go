package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCommitCheckTable(t *testing.T) {
	for _, c := range []struct {
		in, quoted string
		ok         bool
	}{
		{"", "", true},
		{"rwproxy.commit_check", "`rwproxy`.`commit_check`", true},
		{"app.rw$1", "`app`.`rw$1`", true},
		{"commit_check", "", false}, // the schema is required: sessions change theirs
		{"a.b.c", "", false},
		{"a.`b`", "", false},
		{"a.b; DROP TABLE x", "", false},
	} {
		cfg := validConfig(t)
		cfg.TransactionReplayCommitCheck = c.in
		err := cfg.Validate()
		if !c.ok {
			require.ErrorContains(t, err, "transaction_replay_commit_check", c.in)
			continue
		}
		require.NoError(t, err, c.in)
		require.Equal(t, c.quoted, cfg.CommitCheckTable(), c.in)
	}
	require.Empty(t, Defaults().TransactionReplayCommitCheck, "off by default")
}
