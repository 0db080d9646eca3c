package session

import (
	"errors"
	"time"

	"github.com/rwproxy/rwproxy/protocol"
)

// QueryObserver sees every request a backend answered (Deps.Observer):
// latency histograms, error counts and the slow query log live behind it
// (*metrics.Recorder implements it). ObserveQuery is called on the query
// path by the session's goroutine and must not block. outcome is one of
// the Outcome constants.
type QueryObserver interface {
	ObserveQuery(hostgroup int, addr, user, digest string, d time.Duration, outcome int)
}

// Outcomes of a request, as QueryObserver receives them (the values of
// metrics.Outcome*).
const (
	OutcomeOK          = 0 // answered
	OutcomeServerError = 1 // the backend answered with an ERR packet
	OutcomeBackendLost = 2 // the backend connection failed mid-request
	OutcomeClientLost  = 3 // the client connection failed while relaying
)

// queryOutcome classifies a finished request for the observer.
func queryOutcome(res protocol.Response, err error) int {
	switch {
	case err == nil && res.Err == nil:
		return OutcomeOK
	case err == nil:
		return OutcomeServerError
	case errors.Is(err, protocol.ErrClientIO):
		return OutcomeClientLost
	default:
		return OutcomeBackendLost
	}
}
