//go:build race

package node

// raceEnabled: the race detector is on, and tests that build large states
// take their -short size.
const raceEnabled = true
