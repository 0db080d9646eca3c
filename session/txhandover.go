package session

// A transaction handed over by a zero-downtime upgrade continues on its
// pinned backend connection in the new process, but its replay record
// (txreplay.go: raw packets, result checksums, prepared statements a
// COM_STMT_CLOSE may already have dropped) stays behind. The adopted
// session marks the transaction as not replayable at once: if its server
// is lost before the transaction ends, the client gets the error it would
// get without transaction_replay, never a replay of a partial record.
// The caller counts these transactions (rwproxy_upgrade_sessions_total
// does not: Stats.TxnsWithoutReplay in internal/handover).

// txAdopted marks the open transaction of an adopted session as not
// replayable; it reports whether there was one under transaction_replay.
func (s *Session) txAdopted() bool {
	if !s.inTxn || !s.d.Routing().Replay.On {
		return false
	}
	s.tx.reset()
	s.tx.open, s.tx.broken = true, true
	return true
}

// ReplayOff reports whether the adopted session's open transaction lost
// its replay record in the handover (see txAdopted).
func (a *Adopted) ReplayOff() bool { return a.replayOff }
