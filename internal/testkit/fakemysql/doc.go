// Package fakemysql is an in-process MySQL server for unit tests of the
// query path (pool, session, balance): it speaks the wire protocol through
// go-mysql's server package, answers each statement as the test scripted it
// (result sets, OK packets with affected rows, GTIDs or session-state
// changes, errors), delays a reply until it is killed, drops the
// connection before or in the middle of a reply, rejects logins, and
// records every command it received. It listens on 127.0.0.1:0, so tests
// need no port plan, and it imports nothing of rwproxy outside
// internal/testkit, so that any package's tests may use it.
//
// Concurrency: a Server's methods are safe for concurrent use; each client
// connection is served on its own goroutine, all of which stop when the
// test ends.
package fakemysql
