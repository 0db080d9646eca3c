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
//	                      (+ its pinned backend connection's socket)
//	new → old  ack|nack   rebuilt here, not served yet | refused (the old process keeps it)
//	old → new  commit     serve every session received so far (takeback.go)
//	new → old  taken      served here from now on
//	old → new  done       no session left (the last ones are committed with it)
//	new → old  taken      the old process closes its copies and exits
//
// Failure is safe: until ready the old process has changed nothing; after
// it, a new process that dies (the socket closes) makes the old one accept
// again on its duplicate and serve on every session it has not committed:
// a session the new process received stays parked in the old process,
// owning its sockets, until taken (takeback.go). With an older binary on
// either side there is no commit: a session is the new process's at its
// ack, and ends with it if it dies.
//
// Concurrency: Old.Serve runs one takeover at a time; the sessions call
// Hand from their own goroutines, serialized on the socket.
package handover
