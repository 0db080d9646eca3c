package cluster

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"

	"github.com/hashicorp/memberlist"
)

// Gossip keys. memberlist encrypts and authenticates every packet and
// stream with AES-GCM under its keyring's primary key and accepts any key
// of the ring. The key is derived from cluster.secret, a passphrase, with
// HKDF-SHA256 under a fixed salt and context, so that it is bound to this
// use and never the bare hash of the passphrase. Versions before this one
// used SHA-256(secret): that key stays in the ring, so a node of the
// previous version is understood during a rolling upgrade
// (cluster.legacy_key_primary makes it the one this node sends with, for
// the first phase of the upgrade; see docs/cluster.md).
const (
	keySalt = "rwproxy cluster gossip v2"
	keyInfo = "memberlist AES-256-GCM key"
)

// gossipKey derives the AES-256 key of secret.
func gossipKey(secret string) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, []byte(secret), []byte(keySalt), keyInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("cluster: derive the gossip key: %w", err)
	}
	return k, nil
}

// legacyGossipKey is the key of rwproxy versions before HKDF.
func legacyGossipKey(secret string) []byte {
	k := sha256.Sum256([]byte(secret))
	return k[:]
}

// keyring holds both keys of secret; the primary one (the one this node
// encrypts with) is the HKDF key unless legacyPrimary.
func keyring(secret string, legacyPrimary bool) (*memberlist.Keyring, error) {
	cur, err := gossipKey(secret)
	if err != nil {
		return nil, err
	}
	old := legacyGossipKey(secret)
	primary := cur
	if legacyPrimary {
		primary = old
	}
	kr, err := memberlist.NewKeyring([][]byte{cur, old}, primary)
	if err != nil {
		return nil, fmt.Errorf("cluster: gossip keyring: %w", err)
	}
	return kr, nil
}
