//go:build linux

package main

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lattice-sync/lattice/internal/testkit"
	"github.com/lattice-sync/lattice/node"
)

// runExit runs the binary and returns its exit code, stdout and stderr.
func runExit(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(testkit.Binary(t), args...)
	cmd.Env = append(testkit.ChildEnv(), env...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errOut.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errOut.String()
	}
	t.Fatalf("lattice %s: %v", strings.Join(args, " "), err)
	return 0, "", ""
}

// Every command's -h lists its flags with their environment variables
// and exits 0, each default once.
func TestHelpListsEnvironment(t *testing.T) {
	for _, c := range []struct {
		cmd  string
		want []string
	}{
		{"serve", []string{"environment: LATTICE_AE_INTERVAL", "environment: LATTICE_CLUSTER_ID", "(default: the hostname)\n"}},
		{"health", []string{"environment: LATTICE_HEALTH_URL", "environment: LATTICE_HTTP"}},
		{"demo", []string{"environment: LATTICE_DEMO_DATA", "environment: LATTICE_DEMO_FRESH"}},
		{"inc", []string{"usage: lattice inc KEY [N] [flags]", "environment: LATTICE_URL", "environment: LATTICE_DIR"}},
		{"gossip-key", []string{"Without flags, print a new random gossip key", "environment: LATTICE_GOSSIP_KEYRING"}},
	} {
		code, _, stderr := runExit(t, nil, c.cmd, "-h")
		if code != 0 || strings.Contains(stderr, "flag: help requested") {
			t.Errorf("lattice %s -h: exit %d\n%s", c.cmd, code, stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("lattice %s -h lacks %q:\n%s", c.cmd, w, stderr)
			}
		}
	}
	if code, _, stderr := runExit(t, nil, "serve", "--no-such-flag"); code != 2 {
		t.Errorf("an unknown flag: exit %d, want 2\n%s", code, stderr)
	}
	if code, _, stderr := runExit(t, nil, "inc"); code != 2 {
		t.Errorf("inc without a key: exit %d, want 2\n%s", code, stderr)
	}
}

func TestHealthURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/healthz"},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080/healthz"},
		{"https://node:8443/readyz", "https://node:8443/readyz"},
		{"http://a:1,http://b:2", ""},
		{"127.0.0.1:8080", ""},
	} {
		got, err := healthURL(c.in)
		if got != c.want || (err == nil) != (c.want != "") {
			t.Errorf("healthURL(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

// health reads LATTICE_HEALTH_URL, not the client commands' LATTICE_URL:
// after the README's export of a node list it still probes its node.
func TestHealthIgnoresClientURL(t *testing.T) {
	_, url := clientTestNode(t)
	env := []string{"LATTICE_URL=" + url + "," + url, "LATTICE_HEALTH_URL=" + url}
	if code, _, stderr := runExit(t, env, "health"); code != 0 {
		t.Fatalf("health with LATTICE_HEALTH_URL=%s: exit %d\n%s", url, code, stderr)
	}
}

// The nodes refusing the replica is a failure (exit 1) with a message
// saying what is missing; no node reachable is not (exit 0, saved).
func TestClientExitCodes(t *testing.T) {
	_, pubPEM, err := node.NewAuthKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, _, err := node.ParseAuthKey(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	_, url := clientTestNodeWith(t, "", node.NewAuthenticator(pub))
	dir := filepath.Join(t.TempDir(), "replica")
	code, stdout, stderr := runExit(t, nil, "inc", "x", "--dir", dir, "--url", url)
	if code != 1 || !strings.Contains(stderr, "the nodes need a token and none was given") || stdout != "" {
		t.Errorf("inc without a token against an auth node: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	code, _, stderr = runExit(t, nil, "inc", "x", "--dir", dir, "--url", url, "--token", "not-a-token")
	if code != 1 || !strings.Contains(stderr, "the nodes refuse the token") {
		t.Errorf("inc with a bad token: exit %d, stderr:\n%s", code, stderr)
	}
	code, stdout, stderr = runExit(t, nil, "inc", "x", "--dir", dir, "--url", "http://127.0.0.1:9")
	if code != 0 || strings.TrimSpace(stdout) != "1" || !strings.Contains(stderr, "no node reachable: saved locally") {
		t.Errorf("inc with no node reachable: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
}

// A replica directory that synced with one cluster refuses another's
// nodes (exit 1, nothing changed), as after a demo --fresh.
func TestClientWrongCluster(t *testing.T) {
	_, old := clientTestNodeWith(t, "old", nil)
	_, fresh := clientTestNodeWith(t, "new", nil)
	dir := filepath.Join(t.TempDir(), "replica")
	if got := runClient(t, "inc", "board/votes", "5", "--dir", dir, "--url", old); got != "5" {
		t.Fatalf("inc on the old cluster printed %q", got)
	}
	code, stdout, stderr := runExit(t, nil, "inc", "board/votes", "--dir", dir, "--url", fresh)
	if code != 1 || stdout != "" || !strings.Contains(stderr, "another cluster") || !strings.Contains(stderr, "nothing was changed") {
		t.Errorf("inc against another cluster: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	if got := runClient(t, "get", "board/votes", "--dir", dir, "--url", old); got != "5" {
		t.Errorf("back on the old cluster: %q, want 5 (the refused inc changed nothing)", got)
	}
}

// The to-do example refuses an id its list does not hold (exit 1), where
// it used to make a blank item or do nothing.
func TestTodoUnknownID(t *testing.T) {
	todo := filepath.Join(t.TempDir(), "todo")
	if out, err := exec.Command("go", "build", "-o", todo, "../../clients/go/example").CombinedOutput(); err != nil {
		t.Fatalf("building the example: %v\n%s", err, out)
	}
	dir := filepath.Join(t.TempDir(), "alice")
	run := func(args ...string) (int, string) {
		cmd := exec.Command(todo, append([]string{"-dir", dir}, args...)...)
		cmd.Env = testkit.ChildEnv()
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), string(out)
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	if code, out := run("add", "Buy", "milk"); code != 0 || !strings.Contains(out, "Buy milk") {
		t.Fatalf("add: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{"done", "nosuch"}, {"undo", "nosuch"}, {"rename", "nosuch", "x"}, {"rm", "nosuch"}} {
		if code, out := run(args...); code != 1 || !strings.Contains(out, "no item nosuch in the list") {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
	}
	if code, out := run("list"); code != 0 || strings.Count(out, "[ ]") != 1 {
		t.Errorf("the refused commands changed the list: exit %d\n%s", code, out)
	}
}
