// Package writelog is the acknowledged-write check shared by scripts/soak
// (scripts/soakwriter.go) and the architecture study (sysbench/architecture):
// a writer inserts unique ids, one autocommit INSERT at a time, and records
// each id the server (or proxy) acknowledged, with the time of the
// acknowledgement; Verify then reports the acknowledged ids missing on a
// server: writes that were acknowledged and lost.
//
// A Writer is used by one goroutine; Verify and the log helpers are pure or
// do their own I/O and hold no state.
package writelog
