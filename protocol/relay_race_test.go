//go:build race

package protocol_test

// raceDetector: the race detector makes sync.Pool drop items at random,
// so allocation counts mean nothing under -race.
const raceDetector = true
