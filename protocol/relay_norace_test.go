//go:build !race

package protocol_test

// raceDetector: see relay_race_test.go.
const raceDetector = false
