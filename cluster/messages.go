package cluster

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hashicorp/memberlist"
)

// Message types: each message is one type byte followed by a JSON body.
// Configurations are small and change rarely, so JSON's cost does not
// matter and its readability in a packet capture does.
const (
	// msgAnnounce (gossip broadcast): a node holds a version of a module.
	msgAnnounce byte = 1 + iota
	// msgFetch (reliable, to one node): send me these modules.
	msgFetch
	// msgRecords (reliable reply to msgFetch, and the push/pull state):
	// full records with payloads.
	msgRecords
)

// maxAnnounceSize bounds an announcement: memberlist packs broadcasts into
// UDP packets of UDPBufferSize (1400) bytes with its own headers.
const maxAnnounceSize = 1024

// announce says that From holds Version of Module, made by Origin. It is
// small (no payload) so that it fits a gossip packet; a node that finds
// it newer than its own fetches the payload from From.
type announce struct {
	Module   string `json:"m"`
	Version  uint64 `json:"v"`
	Origin   string `json:"o"`
	Checksum string `json:"c"`
	From     string `json:"f"`
}

// record returns the announced version as a payload-less Record.
func (a announce) record() Record {
	return Record{Module: a.Module, Version: a.Version, Origin: a.Origin, Checksum: a.Checksum}
}

// fetch asks a node for its records of Modules, to be sent to From.
type fetch struct {
	From    string   `json:"f"`
	Modules []string `json:"m"`
}

// records carries full records from From.
type records struct {
	From    string   `json:"f"`
	Records []Record `json:"r"`
}

func encodeMsg(t byte, body any) []byte {
	raw, err := json.Marshal(body)
	if err != nil {
		panic(fmt.Sprintf("cluster: encode message %d: %v", t, err)) // plain structs: cannot fail
	}
	return append([]byte{t}, raw...)
}

// decodeMsg splits a message into its type and decodes the body into the
// matching struct (announce, fetch or records).
func decodeMsg(buf []byte) (byte, any, error) {
	if len(buf) < 2 {
		return 0, nil, errors.New("message too short")
	}
	var body any
	switch buf[0] {
	case msgAnnounce:
		body = &announce{}
	case msgFetch:
		body = &fetch{}
	case msgRecords:
		body = &records{}
	default:
		return 0, nil, fmt.Errorf("unknown message type %d", buf[0])
	}
	if err := json.Unmarshal(buf[1:], body); err != nil {
		return 0, nil, fmt.Errorf("message type %d: %w", buf[0], err)
	}
	return buf[0], body, nil
}

// broadcast is one queued announcement. It is a NamedBroadcast named
// after its module, so a newer announcement of the module replaces an
// older one still in the queue instead of being sent after it.
type broadcast struct {
	module string
	msg    []byte
}

var _ memberlist.NamedBroadcast = (*broadcast)(nil)

// Name implements memberlist.NamedBroadcast.
func (b *broadcast) Name() string { return "module:" + b.module }

// Invalidates implements memberlist.Broadcast (memberlist uses Name for
// named broadcasts; this keeps the two consistent).
func (b *broadcast) Invalidates(other memberlist.Broadcast) bool {
	o, ok := other.(memberlist.NamedBroadcast)
	return ok && o.Name() == b.Name()
}

// Message implements memberlist.Broadcast.
func (b *broadcast) Message() []byte { return b.msg }

// Finished implements memberlist.Broadcast.
func (b *broadcast) Finished() {}
