package config

import (
	"regexp"
	"strings"
)

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
	if v := c.TransactionReplayCommitCheck; v != "" && !commitCheckTable.MatchString(v) {
		p.add("transaction_replay_commit_check", "%q must be empty (off) or schema.table (letters, digits, _ and $)", v)
	}
}

// commitCheckTable is what transaction_replay_commit_check accepts: a
// schema-qualified table name that needs no quoting but backticks.
var commitCheckTable = regexp.MustCompile(`^[A-Za-z0-9_$]+\.[A-Za-z0-9_$]+$`)

// CommitCheckTable returns transaction_replay_commit_check quoted for SQL
// (`schema`.`table`), "" when the check is off.
func (c *Config) CommitCheckTable() string {
	schema, table, ok := strings.Cut(c.TransactionReplayCommitCheck, ".")
	if !ok {
		return ""
	}
	return "`" + schema + "`.`" + table + "`"
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
