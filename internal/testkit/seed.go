package testkit

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// SeedVar names the environment variable that replays a seed.
const SeedVar = "LATTICE_SEED"

// Seed is the seed of every random choice a test makes: LATTICE_SEED if
// set, to replay a run, otherwise the clock. It is logged either way, so a
// failing run's log says how to replay it.
func Seed(t testing.TB) int64 {
	t.Helper()
	seed := time.Now().UnixNano()
	if s := os.Getenv(SeedVar); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", SeedVar, s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with %s=%d)", seed, SeedVar, seed)
	return seed
}

// Rand is the generator of one stream of random choices under seed: give
// each goroutine that draws its own stream, so that their choices do not
// depend on how they interleave.
func Rand(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), stream))
}
