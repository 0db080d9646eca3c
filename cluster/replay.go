package cluster

import (
	"time"

	"github.com/rwproxy/rwproxy/config"
)

// replaySettings are the transaction_replay settings in the variables
// module.
type replaySettings struct {
	TransactionReplay         string
	TransactionReplayMaxSize  int
	TransactionReplayAttempts int
	TransactionReplayTimeout  time.Duration
	// TransactionReplayCommitCheck is omitted when empty, so that a node
	// of the previous version reads the same module.
	TransactionReplayCommitCheck string `json:",omitempty"`
}

// replayOf returns n's replay settings, nil when they are the defaults.
func replayOf(n *config.Config) *replaySettings {
	r := replaySettings{n.TransactionReplay, n.TransactionReplayMaxSize, n.TransactionReplayAttempts, n.TransactionReplayTimeout,
		n.TransactionReplayCommitCheck}
	d := config.Defaults()
	if r == (replaySettings{d.TransactionReplay, d.TransactionReplayMaxSize, d.TransactionReplayAttempts, d.TransactionReplayTimeout,
		d.TransactionReplayCommitCheck}) {
		return nil
	}
	return &r
}

// install sets c's replay settings from r (nil: the defaults).
func (r *replaySettings) install(c *config.Config) {
	if r == nil {
		d := config.Defaults()
		r = &replaySettings{d.TransactionReplay, d.TransactionReplayMaxSize, d.TransactionReplayAttempts, d.TransactionReplayTimeout,
			d.TransactionReplayCommitCheck}
	}
	c.TransactionReplay, c.TransactionReplayMaxSize = r.TransactionReplay, r.TransactionReplayMaxSize
	c.TransactionReplayAttempts, c.TransactionReplayTimeout = r.TransactionReplayAttempts, r.TransactionReplayTimeout
	c.TransactionReplayCommitCheck = r.TransactionReplayCommitCheck
}
