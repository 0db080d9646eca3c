// Package capture records the statements of every client session into
// compressed JSON-lines files, for later replay (TRAFFIC CAPTURE on the
// admin port).
//
// A Capturer is shared by all sessions and safe for concurrent use. While
// no capture runs, Active is one atomic load and nothing else happens.
// While one runs, each session hands a finished statement to Record, which
// never blocks: records go to a bounded queue and are dropped (counted)
// when it is full. One goroutine owns the files: it writes format-version-1
// records (format.go) into capture-NNNNNN.jsonl.gz files, starting a new
// file past Options.FileBytes and ending the capture past
// Options.MaxBytes (compressed bytes written) or the duration.
package capture
