package main

import (
	"context"
	"crypto/sha256"
	"os"
	"time"
)

// watchPoll is how often the configuration file is compared with what was
// last loaded. Polling a content hash (rather than fsnotify) also follows a
// file replaced by a rename or a Kubernetes ConfigMap update.
const watchPoll = 2 * time.Second

// watchFile calls changed whenever path's content differs from the last
// content seen, until ctx ends.
func watchFile(ctx context.Context, path string, changed func()) {
	last := fileHash(path)
	t := time.NewTicker(watchPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h := fileHash(path)
			if h != last && h != ([32]byte{}) {
				last = h
				changed()
			}
		}
	}
}

func fileHash(path string) [32]byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return [32]byte{}
	}
	return sha256.Sum256(b)
}
