//go:build race

package integration

// raceEnabled is true when the tests run under the race detector, whose
// shadow memory makes the process's RSS meaningless for leak checks
// (sampleMem).
const raceEnabled = true
