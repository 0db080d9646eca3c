package config

// validateReplay checks the transaction_replay settings.
func (c *Config) validateReplay(p *problems) {
	switch c.TransactionReplay {
	case "", TransactionReplayOn, TransactionReplayOff, "ON", "OFF", "On", "Off",
		"true", "false", "1", "0", "yes", "no":
	default:
		p.add("transaction_replay", "%q must be on or off", c.TransactionReplay)
	}
	if c.TransactionReplayMaxSize <= 0 {
		p.add("transaction_replay_max_size", "%d must be > 0 (bytes)", c.TransactionReplayMaxSize)
	}
	if c.TransactionReplayAttempts < 1 {
		p.add("transaction_replay_attempts", "%d must be >= 1", c.TransactionReplayAttempts)
	}
	p.positive("transaction_replay_timeout", c.TransactionReplayTimeout)
}

// fillReplayDefaults sets the transaction_replay settings left at zero
// (a Config built in code, or an admin database of an earlier version).
func (c *Config) fillReplayDefaults() {
	if c.TransactionReplay == "" {
		c.TransactionReplay = TransactionReplayOn
	}
	if c.TransactionReplayMaxSize == 0 {
		c.TransactionReplayMaxSize = DefaultTransactionReplayMaxSize
	}
	if c.TransactionReplayAttempts == 0 {
		c.TransactionReplayAttempts = DefaultTransactionReplayAttempts
	}
	if c.TransactionReplayTimeout == 0 {
		c.TransactionReplayTimeout = DefaultTransactionReplayTimeout
	}
}
