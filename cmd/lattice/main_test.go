package main

import (
	"os"
	"testing"

	"github.com/lattice-sync/lattice/internal/testkit"
)

// TestMain removes the lattice binary that the process tests build. Run
// as `bench --resource-child DIR` (the bench's resource measurement starts
// its node that way, from os.Executable, which under go test is this
// binary), it is lattice instead: so the shipped code needs no test seam.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "bench" && os.Args[2] == "--resource-child" {
		main()
		os.Exit(0)
	}
	testkit.Main(m)
}
