package protocol

import (
	"sync/atomic"
	_ "unsafe" // go:linkname

	_ "github.com/go-mysql-org/go-mysql/server" // owns baseConnID
)

// baseConnID is go-mysql's connection id counter (server.baseConnID): the
// last id given to a client. go-mysql exports no way to move it, and a
// zero-downtime upgrade must: the sessions the new process adopts keep the
// ids the old one gave them, and its own new clients must not get one of
// those.
//
//go:linkname baseConnID github.com/go-mysql-org/go-mysql/server.baseConnID
var baseConnID uint32

// LastConnID is the last connection id given to a client.
func LastConnID() uint32 { return atomic.LoadUint32(&baseConnID) }

// ReserveConnIDs makes the next connection ids larger than upTo.
func ReserveConnIDs(upTo uint32) {
	for {
		cur := atomic.LoadUint32(&baseConnID)
		if cur >= upTo || atomic.CompareAndSwapUint32(&baseConnID, cur, upTo) {
			return
		}
	}
}
