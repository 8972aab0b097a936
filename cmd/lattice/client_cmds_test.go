//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/internal/testkit"
	"github.com/lattice-sync/lattice/node"
)

// clientTestNode is one node in the test process, behind a real HTTP
// server; the client commands run as separate processes against it.
func clientTestNode(t *testing.T) (*node.Node, string) {
	return clientTestNodeWith(t, "", nil)
}

// clientTestNodeWith is clientTestNode in cluster clusterID ("" none),
// checking tokens with auth (nil: none).
func clientTestNodeWith(t *testing.T, clusterID string, auth *node.Authenticator) (*node.Node, string) {
	t.Helper()
	cfg := node.DefaultConfig("solo", t.TempDir())
	cfg.ClusterID = clusterID
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := node.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(node.NewHTTPHandler(n, node.HTTPOptions{Logger: cfg.Logger, Auth: auth}))
	t.Cleanup(func() {
		n.Close()
		srv.Close()
	})
	return n, srv.URL
}

// blackhole accepts TCP connections and never answers: a network that
// swallows packets, so a client trying to sync waits.
func blackhole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for _, c := range held {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

// lattice runs a client command to the end and returns its stdout.
func runClient(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(testkit.Binary(t), args...)
	cmd.Env = testkit.ChildEnv()
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		t.Fatalf("lattice %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errOut.String())
	}
	t.Logf("lattice %s -> %s (stderr: %s)", strings.Join(args, " "), strings.TrimSpace(out.String()), strings.TrimSpace(errOut.String()))
	return strings.TrimSpace(out.String())
}

// TestClientKilledKeepsPendingEdits: edits made with no node reachable are
// saved locally; a client process killed (SIGKILL) while it tries to sync
// them still has them when it runs again, and then syncs them, once.
func TestClientKilledKeepsPendingEdits(t *testing.T) {
	n, live := clientTestNode(t)
	dir := t.TempDir()
	dead := blackhole(t)

	// Two commands that finish normally while no node is reachable.
	if v := runClient(t, "inc", "kill/counter", "2", "--dir", dir, "--url", "http://127.0.0.1:1", "--wait", "1s"); v != "2" {
		t.Fatalf("inc printed %q", v)
	}
	if v := runClient(t, "add", "kill/set", "kept", "--dir", dir, "--url", "http://127.0.0.1:1", "--wait", "1s"); v != `["kept"]` {
		t.Fatalf("add printed %q", v)
	}

	// One killed while it waits for a node that never answers.
	cmd := exec.Command(testkit.Binary(t), "inc", "kill/counter", "5", "--dir", dir, "--url", dead, "--wait", "60s", "-v")
	cmd.Env = testkit.ChildEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	applied := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "applied locally") {
				applied <- sc.Text()
			}
		}
	}()
	select {
	case line := <-applied:
		t.Logf("client said %q; killing it", line)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the client never applied the edit")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("the client was not killed: %v", err)
	}

	// Nothing reached the node yet.
	if o, err := n.Get("kill/counter"); err != nil || o.Type() != 0 {
		t.Fatalf("the node has kill/counter already: %v %v", o.Value(), err)
	}
	// After the restart, the replica still has all three edits and syncs them.
	if v := runClient(t, "get", "kill/counter", "--dir", dir, "--offline"); v != "7" {
		t.Fatalf("after the kill the replica reads %s, want 7", v)
	}
	if v := runClient(t, "get", "kill/counter", "--dir", dir, "--url", live); v != "7" {
		t.Fatalf("synced value %s, want 7", v)
	}
	if v := runClient(t, "get", "kill/set", "--dir", dir, "--url", live); v != `["kept"]` {
		t.Fatalf("synced set %s", v)
	}
	for key, want := range map[string]string{"kill/counter": "7", "kill/set": `["kept"]`} {
		o, err := n.Get(key)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(o.Value())
		got := string(b)
		if got != want {
			t.Errorf("the node's %s is %s, want %s", key, got, want)
		}
	}
	// Another replica (a fresh directory) reads the same through the node.
	if v := runClient(t, "get", "kill/counter", "--dir", t.TempDir(), "--url", live); v != "7" {
		t.Fatalf("a fresh replica reads %s", v)
	}
}
