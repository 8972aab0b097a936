package dockertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/internal/testkit"
)

// The compose cluster under test: starting it, reaching its nodes, and waiting
// on what they report.

// cluster is one compose project and the addresses the test reaches it at.
type cluster struct {
	t         *testing.T
	seed      int64
	rng       *rand.Rand
	base      []string // the compose command: docker compose, or docker-compose
	compose   []string // base and its file and project flags
	env       []string
	project   string
	gossipNet string
	ids       map[string]string // service → container id
	gossipIP  map[string]string // service → fixed address on the gossip network
	addrs     sync.Map          // service → "ip:port" on the client network
	http      *http.Client
	image     string         // this run's image: other worktrees' runs build their own
	published map[string]int // service → HTTP port on the host's 127.0.0.1
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	compose := requireDocker(t)
	seed := testkit.Seed(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{
		t: t, seed: seed, rng: testkit.Rand(seed, 0),
		project:   fmt.Sprintf("latticeft%d", uint64(seed)%1_000_000_000),
		ids:       map[string]string{},
		gossipIP:  map[string]string{},
		http:      &http.Client{Timeout: 3 * time.Second},
		published: map[string]int{},
	}
	c.image = "lattice:" + c.project
	c.gossipNet = c.project + "_default"
	c.base = compose
	c.compose = append(slices.Clone(compose), "-p", c.project,
		"-f", filepath.Join(root, "docker-compose.yml"),
		"-f", filepath.Join(root, "deploy/docker/compose.faults.yml"))

	start := time.Now()
	c.run(root, "bash", "deploy/docker/setup.sh")
	t.Logf("setup: %v", time.Since(start).Round(time.Millisecond))

	subnet := c.freeSubnet()
	// An empty LATTICE_GOSSIP_KEY overrides one in .env: the keys service
	// makes the key in the project's volume, and it must stay there.
	c.env = append(os.Environ(), "LATTICE_FT_SUBNET="+subnet.String(), "LATTICE_FT_NETWORK="+c.gossipNet,
		"LATTICE_LOG_LEVEL=info", "LATTICE_IMAGE="+c.image, "LATTICE_GOSSIP_KEY=")
	for i, s := range services {
		ip := subnet.Addr() // .11, .12, .13: clear of the gateway
		for range 11 + i {
			ip = ip.Next()
		}
		c.gossipIP[s] = ip.String()
		// Published ports other than compose's 8080-8082: the nodes must
		// advertise these, not the port they listen on in the container.
		c.published[s] = freePort(t)
		c.env = append(c.env, fmt.Sprintf("LATTICE_FT_NODE%d=%s", i+1, ip),
			fmt.Sprintf("LATTICE_NODE%d_PORT=%d", i+1, c.published[s]))
	}

	// Cleanups run last first: logs on failure, then down.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, err := c.cmd(ctx, root, c.composeArgs("down", "-v", "--remove-orphans", "-t", "2")...).CombinedOutput()
		if err != nil {
			t.Logf("compose down: %v\n%s", err, out)
		}
		if out, err := c.cmd(ctx, "", "docker", "image", "rm", c.image).CombinedOutput(); err != nil {
			t.Logf("removing %s: %v\n%s", c.image, err, out)
		}
	})
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		out, _ := c.cmd(context.Background(), root, c.composeArgs("logs", "--no-color", "--tail", "300")...).CombinedOutput()
		t.Logf("seed %d; the nodes' logs:\n%s", seed, out)
	})

	start = time.Now()
	c.run(root, c.composeArgs("build", "node1")...)
	// The classic builder leaves the build stage behind as an untagged
	// image of some 640 MB per build; the Dockerfile labels it.
	c.docker("image", "prune", "-f", "--filter", "label=lattice.stage=build")
	t.Logf("build: %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	c.run(root, c.composeArgs("up", "-d", "--no-build")...)
	for _, s := range services {
		c.ids[s] = strings.TrimSpace(c.run(root, c.composeArgs("ps", "-q", s)...))
		c.refreshClientAddr(s)
	}
	for _, s := range services {
		if err := c.waitHealthy(s, 60*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	c.waitMembers(60 * time.Second)
	t.Logf("up, healthy and joined: %v", time.Since(start).Round(time.Millisecond))
	// Gossip is encrypted: every node started with the one key of the
	// keyring that the keys service made in its volume.
	logs := c.run(root, c.composeArgs("logs", "--no-color", "node1", "node2", "node3")...)
	if n := strings.Count(logs, `"gossip_keys":1,`); n != len(services) {
		t.Fatalf("%d of %d nodes logged that they started with one gossip key", n, len(services))
	}
	// ... and that key never left the volume: the keys container's
	// configuration does not hold it.
	keys := strings.TrimSpace(c.run(root, c.composeArgs("ps", "-q", "keys")...))
	for _, kv := range strings.Fields(c.docker("inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}", keys)) {
		if strings.HasPrefix(kv, "LATTICE_GOSSIP_KEY=") && kv != "LATTICE_GOSSIP_KEY=" {
			t.Fatalf("docker inspect of the keys container shows the gossip key")
		}
	}
	return c
}

// checkAdvertised checks that every node advertises the URL it is
// published at, as the demo's panel and node picker show it (/v1/cluster's
// http, its own and its peers'), and that each published port reaches that
// node. urlOf gives the address the test asks a node at. It returns the
// cluster id the nodes report, which must be one and the same.
func (c *cluster) checkAdvertised(published map[string]int, urlOf func(s, path string) string) string {
	c.t.Helper()
	want := func(s string) string { return fmt.Sprintf("http://127.0.0.1:%d", published[s]) }
	ids := map[string]bool{}
	for _, s := range services {
		var ci struct {
			Name    string `json:"name"`
			Cluster string `json:"cluster"`
			HTTP    string `json:"http"`
			Members []struct {
				Name string `json:"name"`
				HTTP string `json:"http"`
			} `json:"members"`
		}
		if err := c.getURL(urlOf(s, "/v1/cluster"), &ci); err != nil {
			c.t.Fatal(err)
		}
		ids[ci.Cluster] = true
		if ci.HTTP != want(s) {
			c.t.Errorf("%s advertises %q, want %q (its published port)", s, ci.HTTP, want(s))
		}
		for _, m := range ci.Members {
			if m.HTTP != want(m.Name) {
				c.t.Errorf("%s's panel links %s to %q, want %q", s, m.Name, m.HTTP, want(m.Name))
			}
		}
		var self struct{ Name string }
		if err := c.getURL(want(s)+"/v1/cluster", &self); err != nil || self.Name != s {
			c.t.Errorf("%s's published port %d answers as %q (%v)", s, published[s], self.Name, err)
		}
	}
	// A cluster id derived from the project's gossip key: clients' replicas
	// then refuse another project's nodes.
	if len(ids) != 1 || ids[""] {
		c.t.Errorf("the nodes report cluster ids %v, want one", ids)
	}
	for id := range ids {
		return id
	}
	return ""
}

// sideBySide runs a second project of the plain docker-compose.yml, on
// ports of its own, beside the test's cluster: it comes up healthy on its
// own network, its panel links to its own ports, and `down -v` removes it
// and its volumes while the first goes on. Its cluster id differs from the
// first's, firstID.
func (c *cluster) sideBySide(firstID string) {
	c.t.Helper()
	root, _ := filepath.Abs("../..")
	other := &cluster{t: c.t, project: c.project + "b", http: c.http, image: c.image, published: map[string]int{}}
	other.compose = append(slices.Clone(c.base), "-p", other.project, "-f", filepath.Join(root, "docker-compose.yml"))
	other.env = append(os.Environ(), "LATTICE_IMAGE="+c.image, "LATTICE_GOSSIP_KEY=")
	for i, s := range services {
		other.published[s] = freePort(c.t)
		other.env = append(other.env, fmt.Sprintf("LATTICE_NODE%d_PORT=%d", i+1, other.published[s]))
	}
	downed := false
	down := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, err := other.cmd(ctx, root, other.composeArgs("down", "-v", "--remove-orphans", "-t", "2")...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("compose down -v of %s: %v\n%s", other.project, err, out)
		}
		return nil
	}
	c.t.Cleanup(func() {
		if !downed {
			_ = down()
		}
	})
	start := time.Now()
	other.run(root, other.composeArgs("up", "-d", "--no-build")...)
	published := func(s, path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", other.published[s], path) }
	for _, s := range services {
		if err := other.waitHealthyAt(s, published, 60*time.Second); err != nil {
			c.t.Fatal(err)
		}
	}
	nets := strings.Fields(c.docker("network", "ls", "-q", "--filter", "name="+other.project+"_default"))
	if len(nets) != 1 {
		c.t.Errorf("the second project's network %s_default: %d found", other.project, len(nets))
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		var ci clusterInfo
		if err := c.getURL(published("node1", "/v1/cluster"), &ci); err == nil && len(ci.Members) == 2 {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the second project's nodes did not join in 60s")
		}
	}
	if id := c.checkAdvertised(other.published, published); id == firstID {
		c.t.Errorf("two projects report one cluster id %q: a replica would take one for the other", id)
	}
	c.t.Logf("a second project, %s, up beside the first in %v", other.project, time.Since(start).Round(time.Millisecond))
	downed = true
	if err := down(); err != nil {
		c.t.Fatal(err)
	}
	if vols := strings.Fields(c.docker("volume", "ls", "-q", "--filter", "name="+other.project+"_")); len(vols) > 0 {
		c.t.Errorf("compose down -v of %s left its volumes %v", other.project, vols)
	}
	for _, s := range services {
		if err := c.waitHealthy(s, 30*time.Second); err != nil {
			c.t.Fatalf("the first project after the second's down: %v", err)
		}
	}
}

// requireDocker returns the compose command, or skips the test when there
// is no engine, unless CI is set.
func requireDocker(t *testing.T) []string {
	t.Helper()
	fail := t.Skipf
	if os.Getenv("CI") != "" {
		fail = t.Fatalf
	}
	if _, err := exec.LookPath("docker"); err != nil {
		fail("no docker on PATH: the container fault test needs a Docker engine and compose")
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		fail("the Docker engine does not answer (%v): %s", err, out)
	}
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}
	}
	fail("neither `docker compose` nor `docker-compose` works")
	return nil
}

// freeSubnet asks the engine for a subnet it has free: it makes a network,
// reads the subnet it chose, and removes it, so compose can claim it.
func (c *cluster) freeSubnet() netip.Prefix {
	name := c.project + "_probe"
	c.docker("network", "create", name)
	out := c.docker("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", name)
	c.docker("network", "rm", name)
	for _, f := range strings.Fields(out) {
		if p, err := netip.ParsePrefix(f); err == nil && p.Addr().Is4() && p.Bits() <= 24 {
			return p.Masked()
		}
	}
	c.t.Fatalf("no IPv4 subnet of /24 or more in %q", out)
	return netip.Prefix{}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (c *cluster) composeArgs(args ...string) []string {
	return append(slices.Clone(c.compose), args...)
}

func (c *cluster) cmd(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir, cmd.Env = dir, c.env
	return cmd
}

// run runs a command to completion and fails the test if it fails.
func (c *cluster) run(dir string, args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := c.cmd(ctx, dir, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		c.t.Fatalf("%s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func (c *cluster) docker(args ...string) string {
	c.t.Helper()
	return c.run("", append([]string{"docker"}, args...)...)
}

// refreshClientAddr reads where the test reaches a service: its address on
// the client network, which a restart may change.
func (c *cluster) refreshClientAddr(s string) {
	c.t.Helper()
	ip := strings.TrimSpace(c.docker("inspect", "-f",
		fmt.Sprintf(`{{(index .NetworkSettings.Networks "%s_client").IPAddress}}`, c.project), c.ids[s]))
	if ip == "" {
		c.t.Fatalf("%s has no address on the client network", s)
	}
	c.addrs.Store(s, net.JoinHostPort(ip, strconv.Itoa(httpPort)))
}

func (c *cluster) url(s, path string) string {
	a, _ := c.addrs.Load(s)
	return "http://" + a.(string) + path
}

func (c *cluster) getJSON(s, path string, v any) error {
	return c.getURL(c.url(s, path), v)
}

func (c *cluster) getURL(url string, v any) error {
	resp, err := c.http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func (c *cluster) waitHealthy(s string, timeout time.Duration) error {
	return c.waitHealthyAt(s, c.url, timeout)
}

// waitHealthyAt waits until service s answers /readyz at urlOf.
func (c *cluster) waitHealthyAt(s string, urlOf func(s, path string) string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		var st struct{ Status string }
		if err = c.getURL(urlOf(s, "/readyz"), &st); err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %v: %v", s, timeout, err)
}

type clusterInfo struct {
	Members []struct {
		Name      string `json:"name"`
		Addr      string `json:"addr"`
		Reachable bool   `json:"reachable"`
	} `json:"members"`
}

// waitMembers waits until every node sees the other two, reachable at their
// fixed gossip addresses.
func (c *cluster) waitMembers(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ok := true
		for _, s := range services {
			var ci clusterInfo
			if err := c.getJSON(s, "/v1/cluster", &ci); err != nil {
				ok, last = false, err.Error()
				break
			}
			n := 0
			for _, m := range ci.Members {
				if m.Reachable && m.Addr == net.JoinHostPort(c.gossipIP[m.Name], "7946") {
					n++
				}
			}
			if n != len(services)-1 {
				ok, last = false, fmt.Sprintf("%s sees %+v", s, ci.Members)
				break
			}
		}
		if ok {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	c.t.Fatalf("the nodes did not all join in %v: %s", timeout, last)
}

// waitCut waits until the victim and the others each report the other side
// unreachable.
func (c *cluster) waitCut(victim string, timeout time.Duration) {
	c.t.Helper()
	start := time.Now()
	for {
		cut := true
		for _, s := range services {
			var ci clusterInfo
			if err := c.getJSON(s, "/v1/cluster", &ci); err != nil {
				c.t.Fatal(err)
			}
			for _, m := range ci.Members {
				if (s == victim || m.Name == victim) && m.Reachable {
					cut = false
				}
			}
		}
		if cut {
			c.t.Logf("both sides saw the cut after %v", time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > timeout {
			c.logReachability()
			c.t.Fatalf("%s still reachable %v after the disconnect", victim, timeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// logReachability logs who each node can reach, to show the cut was real.
func (c *cluster) logReachability() {
	for _, s := range services {
		var ci clusterInfo
		if err := c.getJSON(s, "/v1/cluster", &ci); err != nil {
			c.t.Logf("%s: %v", s, err)
			continue
		}
		var reach []string
		for _, m := range ci.Members {
			reach = append(reach, fmt.Sprintf("%s=%v", m.Name, m.Reachable))
		}
		c.t.Logf("%s reaches %s", s, strings.Join(reach, " "))
	}
}

// waitConverged waits until every digest is equal, within the issue's
// bound, then checks every node's counter and set against the history.
func (c *cluster) waitConverged(h *history, when string) {
	c.t.Helper()
	start := time.Now()
	var digests map[string]string
	for {
		digests = map[string]string{}
		for _, s := range services {
			var d struct{ Digest string }
			if err := c.getJSON(s, "/v1/digest", &d); err != nil {
				digests[s] = err.Error()
			} else {
				digests[s] = d.Digest
			}
		}
		if digests["node1"] == digests["node2"] && digests["node2"] == digests["node3"] {
			break
		}
		if time.Since(start) > converge {
			c.t.Fatalf("%s: digests differ after %v: %v", when, converge, digests)
		}
		time.Sleep(200 * time.Millisecond)
	}
	ok, fail, info := testkit.Tally(h.Ops())
	c.t.Logf("%s: digests equal in %v (%s); writes: %d ok, %d indeterminate, %d failed",
		when, time.Since(start).Round(time.Millisecond), digests["node1"][:12], ok, info, fail)
	for _, s := range services {
		var cv struct{ Value int64 }
		if err := c.getJSON(s, "/v1/objects/"+counterKey, &cv); err != nil {
			c.t.Fatal(err)
		}
		v := testkit.CheckCounter(counterKey, h.Ops(), cv.Value, true)
		c.t.Logf("%s %s: %s", s, counterKey, v)
		if !v.Valid() {
			c.t.Errorf("%s: %s %s is out of bounds", when, s, counterKey)
		}
		var sv struct{ Value []any }
		if err := c.getJSON(s, "/v1/objects/"+setKey, &sv); err != nil {
			c.t.Fatal(err)
		}
		sw := testkit.CheckSet(setKey, h.Ops(), sv.Value, true)
		c.t.Logf("%s %s: %s", s, setKey, sw)
		if !sw.Valid() {
			c.t.Errorf("%s: %s %s lost or invented elements", when, s, setKey)
		}
	}
}
