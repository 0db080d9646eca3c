// Package session runs one client connection: it reads commands, picks a
// backend connection (or keeps the one a transaction or unreplayable state
// pinned), brings that connection to the session's state, relays the
// response raw, and learns the new state from the server's session
// trackers.
//
// Concurrency: a Session's methods are called from the one goroutine that
// serves its client connection. Deps is shared and safe for concurrent use.
package session
