package main

import (
	"testing"

	"github.com/lattice-sync/lattice/internal/testkit"
)

// TestMain removes the lattice binary that the process tests build.
func TestMain(m *testing.M) { testkit.Main(m) }
