package session

import (
	"sync"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/rwproxy/rwproxy/protocol"
)

// schemaChecks lets logins that name the same schema at the same time
// share one check on a backend (checkDB). An application pool that opens
// its connections at once, each with the schema in its DSN, would
// otherwise take as many backend connections as logins are in flight,
// only to verify the same schema, and they would stay in the writer's
// pool (ProxySQL checks no schema at login and opens none). A login that
// begins after a check ended runs a check of its own: no result is kept.
//
// It is safe for concurrent use; the zero value is ready.
type schemaChecks struct {
	mu struct {
		sync.Mutex
		inFlight map[schemaKey]*schemaCheck
		// waiting counts the logins waiting for another's check (tests).
		waiting int
	}
}

// schemaKey is what a check's result depends on: the backend user (its
// privileges decide whether it sees the schema), the hostgroup and the
// schema.
type schemaKey struct {
	user string
	hg   int
	db   string
}

type schemaCheck struct {
	done chan struct{}
	err  *mysql.MyError
}

// do runs check for k, or waits for the check of k already running and
// returns its result.
func (c *schemaChecks) do(k schemaKey, check func() *mysql.MyError) *mysql.MyError {
	c.mu.Lock()
	if f, ok := c.mu.inFlight[k]; ok {
		c.mu.waiting++
		c.mu.Unlock()
		<-f.done
		c.mu.Lock()
		c.mu.waiting--
		c.mu.Unlock()
		return f.err
	}
	if c.mu.inFlight == nil {
		c.mu.inFlight = make(map[schemaKey]*schemaCheck)
	}
	// A check that panics leaves this error for the logins waiting on it.
	f := &schemaCheck{done: make(chan struct{}), err: protocol.NewErrInternal()}
	c.mu.inFlight[k] = f
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.mu.inFlight, k)
		c.mu.Unlock()
		close(f.done)
	}()
	f.err = check()
	return f.err
}

// waiters is how many logins wait for another's check.
func (c *schemaChecks) waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.waiting
}
