// Package replay replays a traffic capture (package capture) against a
// MySQL server or another rwproxy and reports the differences: errors the
// capture did not have, row-count mismatches and latency per digest
// (`rwproxy replay`).
//
// Each captured session replays on its own connection, in its own
// goroutine, with its statements at their captured offsets divided by the
// speed, so the original concurrency and pacing are kept (a statement
// that is late starts at once).
package replay
