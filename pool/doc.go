// Package pool keeps backend connections: one Pool per (server, user,
// capability class), grouped by a Manager that also enforces each server's
// max_connections across users.
//
// Concurrency: Manager and Pool are safe for concurrent use. A *Conn
// belongs to exactly one session between Get and Recycle/Discard.
package pool
