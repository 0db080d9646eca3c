package session

import "sync/atomic"

// PinReason says why a session holds one backend connection.
type PinReason uint8

// Pin reasons.
const (
	PinNone PinReason = iota
	PinTransaction
	PinUnreplayable
	PinCount
)

var pinNames = [PinCount]string{"none", "transaction", "unreplayable_state"}

// String names the reason.
func (r PinReason) String() string {
	if r < PinCount {
		return pinNames[r]
	}
	return "unknown"
}

// Stats are process-wide session counters.
type Stats struct {
	Sessions     atomic.Int64
	AuthFailures atomic.Uint64
	Panics       atomic.Uint64
	Queries      atomic.Uint64
	BackendErrs  atomic.Uint64
	Pins         [PinCount]atomic.Uint64
}
