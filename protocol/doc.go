// Package protocol is rwproxy's MySQL wire layer: the client listener and
// authentication (on go-mysql's server package), buffered sockets, and the
// raw packet relay between a backend and a client. It knows packets, not
// routing.
//
// Concurrency: a Listener is safe for concurrent use; everything else here
// (BufConn, Relay, PacketBuf) belongs to one connection's goroutine.
package protocol
