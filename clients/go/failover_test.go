package lattice

import (
	"fmt"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/node"
)

func counterOn(t *testing.T, n *node.Node, key string) int64 {
	t.Helper()
	o, err := n.Get(key)
	if err != nil {
		t.Fatalf("%s: get %s: %v", n.Name(), key, err)
	}
	if o.Type() == 0 {
		return 0
	}
	v, ok := o.Value().(int64)
	if !ok {
		t.Fatalf("%s: %s is %v", n.Name(), key, o.Value())
	}
	return v
}

// TestExactlyOnceOnFailover: a node persists a client's delta and its ack
// never reaches the client (a proxy swallows it); the node dies (or only
// the path to it does), the client fails over to another node and resends,
// and the counter moves once, on every node.
func TestExactlyOnceOnFailover(t *testing.T) {
	rng := testSeed(t)
	cl := newCluster(t, 3, nil)
	const key = "failover/counter"
	for round := 1; round <= 3; round++ {
		victim := rng.IntN(3)
		killNode := round%2 == 1
		t.Logf("round %d: ack lost from n%d, then %s", round, victim, map[bool]string{true: "n" + fmt.Sprint(victim) + " dies", false: "the path to it drops"}[killNode])
		p := newProxy(t, cl.nodes[victim].addr)
		others := []int{(victim + 1) % 3, (victim + 2) % 3}
		c := openClient(t, Options{Dir: t.TempDir(), URLs: p.url() + "," + cl.urls(others...)})
		_, err := c.Subscribe(key, nil)
		must(t, err)
		mustSync(t, c, "before the write")
		if c.Node() != cl.nodes[victim].name {
			t.Fatalf("client on %q, want %s", c.Node(), cl.nodes[victim].name)
		}
		if killNode {
			// Cut the victim off first, so the delta it persists reaches no
			// peer before it dies: the resend is then the only way there,
			// and the victim's own copy comes back by anti-entropy later.
			cl.net.Partition([]string{cl.nodes[victim].name})
		}
		p.swallow.Store(true)
		must(t, c.Inc(key, "", 1))
		eventually(t, 10*time.Second, "the victim persists the delta", func() (bool, string) {
			v := counterOn(t, cl.nodes[victim].node(), key)
			return v == int64(round), fmt.Sprintf("counter %d", v)
		})
		if n := c.Pending(); n != 1 {
			t.Fatalf("pending %d after a swallowed ack, want 1", n)
		}
		if killNode {
			cl.stop(victim)
		}
		p.drop()
		mustSync(t, c, "after failover")
		if c.Node() == cl.nodes[victim].name {
			t.Fatalf("client still on %s", c.Node())
		}
		if killNode {
			eventually(t, 10*time.Second, "the others count the resend once, the victim down", func() (bool, string) {
				var vs []int64
				for _, i := range others {
					vs = append(vs, counterOn(t, cl.nodes[i].node(), key))
				}
				return vs[0] == int64(round) && vs[1] == int64(round), fmt.Sprintf("counters %v, want %d", vs, round)
			})
			cl.start(victim)
			cl.net.Heal()
		}
		eventually(t, 15*time.Second, "every node counts the write once", func() (bool, string) {
			var vs []int64
			ok := true
			for _, tn := range cl.nodes {
				v := counterOn(t, tn.node(), key)
				vs = append(vs, v)
				ok = ok && v == int64(round)
			}
			return ok, fmt.Sprintf("counters %v, want %d", vs, round)
		})
		if v, _ := c.Get(key); v != fmt.Sprint(round) {
			t.Fatalf("client reads %s, want %d", v, round)
		}
		must(t, c.Close())
	}
}

// TestSilentNodeIsLeft: a connection that stays open but goes silent (a
// half-open TCP connection, a NAT that forgot the client) is given up
// after two ping intervals, and the client moves on and resends.
func TestSilentNodeIsLeft(t *testing.T) {
	cl := newCluster(t, 2, nil)
	p := newProxy(t, cl.nodes[0].addr)
	c := openClient(t, Options{URLs: p.url() + "," + cl.urls(1), PingIntervalMillis: 100})
	_, err := c.Subscribe("silent", nil)
	must(t, err)
	mustSync(t, c, "before the silence")
	p.swallow.Store(true)
	must(t, c.Inc("silent", "", 1))
	start := time.Now()
	mustSync(t, c, "after the silence")
	if c.Node() != "n1" {
		t.Fatalf("on %q after the silence, want n1", c.Node())
	}
	t.Logf("moved on after %v", time.Since(start).Round(time.Millisecond))
	eventually(t, 10*time.Second, "both nodes count once", func() (bool, string) {
		a, b := counterOn(t, cl.nodes[0].node(), "silent"), counterOn(t, cl.nodes[1].node(), "silent")
		return a == 1 && b == 1, fmt.Sprintf("n0 %d, n1 %d", a, b)
	})
}
