// Package dockertest runs the docker compose cluster of docker-compose.yml
// and breaks it with the container engine's own tools: a node cut off its
// network with `docker network disconnect`, a node killed with `docker
// kill`. Clients write counters and sets on all three nodes throughout, and
// Jepsen-style checkers judge what the nodes hold once they converge.
//
// It needs a Docker engine and compose (v2 `docker compose` or v1
// `docker-compose`). Without them it skips, unless CI is set: CI must run
// it. Every random choice comes from a logged seed; LATTICE_SEED replays it
// (the engine's and the nodes' own timing cannot be replayed).
package dockertest

import (
	"testing"
	"time"
)

const (
	counterKey = "ft/counter"
	setKey     = "ft/set"
	converge   = 20 * time.Second // the bound on convergence
)

var services = []string{"node1", "node2", "node3"}

func TestPartitionAndKill(t *testing.T) {
	c := startCluster(t)
	c.sideBySide(c.checkAdvertised(c.published, c.url))
	hist := &history{}

	t.Log("phase 1: cut node3 off the gossip network while writes go on")
	w := startWriters(c, hist, 6)
	time.Sleep(2 * time.Second)
	victim := "node3"
	c.docker("network", "disconnect", c.gossipNet, c.ids[victim])
	cutAt := hist.Len()
	// Write on until memberlist on both sides has declared the other dead,
	// so the heal goes through failure detection and rejoin, as for real.
	c.waitCut(victim, 20*time.Second)
	time.Sleep(time.Second)
	if n := hist.acked(victim, cutAt); n == 0 {
		t.Errorf("no write acknowledged by %s while it was cut off", victim)
	} else {
		t.Logf("while cut off: %s acknowledged %d writes, the others %d", victim, n, hist.ackedOthers(victim, cutAt))
	}
	c.logReachability()
	c.docker("network", "connect", "--ip", c.gossipIP[victim], "--alias", victim, c.gossipNet, c.ids[victim])
	time.Sleep(time.Second)
	w.halt()
	c.waitConverged(hist, "after the partition healed")

	victim = services[c.rng.IntN(len(services))]
	t.Logf("phase 2: kill %s during writes and start it again", victim)
	w = startWriters(c, hist, 6)
	time.Sleep(2 * time.Second)
	c.docker("kill", c.ids[victim])
	time.Sleep(2 * time.Second)
	c.docker("start", c.ids[victim])
	c.refreshClientAddr(victim)
	if err := c.waitHealthy(victim, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	w.halt()
	c.waitConverged(hist, "after the restart")
}

// httpPort is every node's HTTP port inside its container.
const httpPort = 8080
