// Package handover moves a running rwproxy's listening sockets and live
// client sessions to a new rwproxy process (a zero-downtime upgrade or
// restart), over a unix socket with SCM_RIGHTS.
//
// The old process (Old) listens on the upgrade socket. A new process
// started with --takeover connects (Takeover) and the two run:
//
//	new → old  hello      protocol version, pid
//	old → new  config     the running configuration (admin changes not saved included)
//	old → new  listeners  client, admin and HTTP listening sockets (fds)
//	new → old  ready      the new proxy serves on them
//	              (the old process stops accepting; it keeps a duplicate)
//	old → new  session    one per session, at a statement boundary: Durable + client socket
//	new → old  ack|nack   served there now | refused (the old process keeps it)
//	old → new  done       the old process holds no session and exits
//
// Failure is safe: until ready the old process has changed nothing; after
// it, a new process that dies (the socket closes) makes the old one accept
// again on its duplicate and keep every session it still has. Sessions
// the new process acknowledged are its own; they end with it.
//
// Concurrency: Old.Serve runs one takeover at a time; the sessions call
// Hand from their own goroutines, serialized on the socket.
package handover
