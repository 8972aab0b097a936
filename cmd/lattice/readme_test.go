package main

// The README's transcripts, run as a new user would run them: against a
// fresh `lattice demo`, command by command, comparing what each prints
// with what the README shows. Only the to-do ids (made from the clock)
// and the demo's ports (the README's 8080-8082 may be taken) differ.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/internal/testkit"
)

// transcript is one ```console block of the README.
type transcript struct {
	line  int // of the block's first line in README.md
	steps []step
}

// step is one `$ ` command and the output the README shows under it.
type step struct {
	cmd  string
	want []string
}

func readmeTranscripts(t *testing.T) []transcript {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []transcript
	var cur *transcript
	for i, line := range strings.Split(string(b), "\n") {
		switch {
		case line == "```console":
			out = append(out, transcript{line: i + 1})
			cur = &out[len(out)-1]
		case cur != nil && line == "```":
			cur = nil
		case cur == nil:
		case strings.HasPrefix(line, "$ "):
			cur.steps = append(cur.steps, step{cmd: line[2:]})
		case strings.HasPrefix(line, "# "): // a comment between commands
		case len(cur.steps) > 0:
			s := &cur.steps[len(cur.steps)-1]
			s.want = append(s.want, line)
		}
	}
	return out
}

// readmeRun runs the README's commands: the demo's ports and the `go run`
// of the binaries rewritten, the environment a shell session's (export
// and unset persist), files landing in a scratch directory.
type readmeRun struct {
	t     *testing.T
	dir   string            // the working directory, as the repository's root is the README's
	env   map[string]string // the session's variables
	ports map[string]string // README port -> this run's
	bins  map[string]string // README `go run` target -> binary
	ids   map[string]string // README to-do id -> this run's
}

var todoID = regexp.MustCompile(`\b[0-9a-f]{11}-[0-9a-f]{4}\b`)

// rewrite turns a README command into this run's.
func (r *readmeRun) rewrite(cmd string) string {
	for from, to := range r.bins {
		cmd = strings.ReplaceAll(cmd, "go run "+from, to)
	}
	for from, to := range r.ports {
		cmd = strings.ReplaceAll(cmd, ":"+from, ":"+to)
	}
	return todoID.ReplaceAllStringFunc(cmd, func(id string) string {
		if mine, ok := r.ids[id]; ok {
			return mine
		}
		return id
	})
}

func (r *readmeRun) environ() []string {
	var env []string
	for k, v := range r.env {
		env = append(env, k+"="+v)
	}
	return env
}

// command starts one README command in sh, stdout and stderr interleaved
// as a terminal shows them.
func (r *readmeRun) command(cmd string) (*exec.Cmd, *lockedBuffer) {
	c := exec.Command("sh", "-c", r.rewrite(cmd))
	c.Dir, c.Env = r.dir, r.environ()
	out := &lockedBuffer{}
	c.Stdout, c.Stderr = out, out
	return c, out
}

// run runs one step and compares its output, learning the to-do ids.
func (r *readmeRun) run(s step) {
	r.t.Helper()
	if name, value, ok := strings.Cut(strings.TrimPrefix(s.cmd, "export "), "="); ok && strings.HasPrefix(s.cmd, "export ") {
		r.env[name] = r.rewrite(value)
		return
	}
	if name, ok := strings.CutPrefix(s.cmd, "unset "); ok {
		delete(r.env, name)
		return
	}
	c, out := r.command(s.cmd)
	if err := c.Run(); err != nil {
		r.t.Errorf("$ %s\n(run as: %s)\nfailed: %v\n%s", s.cmd, r.rewrite(s.cmd), err, out)
		return
	}
	r.compare("$ "+s.cmd, s.want, lines(out.String()))
}

// compare checks got against want, the README's to-do ids standing for
// the ones this run made (each README id always for the same one).
func (r *readmeRun) compare(what string, want, got []string) {
	r.t.Helper()
	ok := len(want) == len(got)
	for i := 0; ok && i < len(want); i++ {
		ok = r.sameLine(want[i], got[i])
	}
	if !ok {
		r.t.Errorf("%s\nREADME shows:\n  %s\nthis run printed:\n  %s", what, strings.Join(want, "\n  "), strings.Join(got, "\n  "))
	}
}

func (r *readmeRun) sameLine(want, got string) bool {
	wids, gids := todoID.FindAllString(want, -1), todoID.FindAllString(got, -1)
	if len(wids) != len(gids) || todoID.ReplaceAllString(want, "ID") != todoID.ReplaceAllString(got, "ID") {
		return false
	}
	for i, w := range wids {
		if mine, ok := r.ids[w]; ok && mine != gids[i] {
			return false
		}
		r.ids[w] = gids[i]
	}
	return true
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// background runs a README command that runs until interrupted (a watch
// in another terminal), and stops it with Ctrl-C's signal.
type background struct {
	cmd *exec.Cmd
	out *lockedBuffer
}

func (r *readmeRun) start(s step) *background {
	r.t.Helper()
	c, out := r.command(s.cmd)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // sh and its child get the signal
	if err := c.Start(); err != nil {
		r.t.Fatalf("$ %s: %v", s.cmd, err)
	}
	b := &background{c, out}
	r.t.Cleanup(func() { b.stop() })
	return b
}

func (b *background) stop() {
	if b.cmd.ProcessState == nil {
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGINT)
		_ = b.cmd.Wait()
	}
}

// waitFor waits until the output has a line satisfying ok.
func (b *background) waitFor(t *testing.T, what string, timeout time.Duration, ok func([]string) bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !ok(lines(b.out.String())); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waiting %v for %s; output so far:\n%s", timeout, what, b.out)
		}
	}
}

// startDemo runs `lattice demo --fresh` on three free consecutive HTTP
// ports and gossip ports, and returns the first HTTP port.
func startDemo(t *testing.T, bin, dir string) (httpPort, gossipPort int) {
	t.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		httpPort, gossipPort = freeRun(t, 3), freeRun(t, 3)
		c := exec.Command(bin, "demo", "--fresh", "--data", filepath.Join(dir, "demo"),
			"--port", strconv.Itoa(httpPort), "--gossip-port", strconv.Itoa(gossipPort))
		c.Env = testkit.ChildEnv()
		stdout, err := c.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr lockedBuffer
		c.Stderr = &stderr
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		up := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "Open a URL") {
					up <- true
				}
			}
			up <- false
		}()
		if <-up {
			t.Cleanup(func() {
				_ = c.Process.Signal(syscall.SIGINT)
				_ = c.Wait()
				if strings.Contains(stderr.String(), "level=ERROR") {
					t.Errorf("the demo logged an error (Ctrl-C included):\n%s", stderr.String())
				}
				for _, l := range lines(stderr.String()) {
					if strings.Count(l, " node=") > 1 {
						t.Errorf("a log line repeats its node: %s", l)
					}
				}
			})
			return httpPort, gossipPort
		}
		_ = c.Wait()
		t.Logf("demo on %d/%d did not start (retrying): %s", httpPort, gossipPort, stderr.String())
	}
	t.Fatal("the demo never started")
	return 0, 0
}

// freeRun finds n consecutive ports free on 127.0.0.1 for TCP and UDP.
func freeRun(t *testing.T, n int) int {
	t.Helper()
	for range 100 {
		base, err := strconv.Atoi(strings.TrimPrefix(testkit.FreeAddr(t, "127.0.0.1"), "127.0.0.1:"))
		if err != nil || base+n > 65535 {
			continue
		}
		free := true
		for p := base; p < base+n && free; p++ {
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				free = false
				break
			}
			pc, err := net.ListenPacket("udp", addr)
			ln.Close()
			if err != nil {
				free = false
				break
			}
			pc.Close()
		}
		if free {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return 0
}

func TestREADMETranscripts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a demo cluster and runs the README's commands")
	}
	testkit.NeedLoopback(t, "127.0.0.1")
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the README uses curl, which is not installed")
		}
		t.Skip("the README uses curl, which is not installed")
	}
	ts := readmeTranscripts(t)
	if len(ts) != 4 {
		t.Fatalf("README.md has %d console blocks; this test knows 4 (the CLI, its watch, the to-do list, its watch)", len(ts))
	}
	cli, cliWatch, todo, todoWatch := ts[0], ts[1], ts[2], ts[3]

	bin := testkit.Binary(t)
	todoBin := filepath.Join(filepath.Dir(bin), "todo")
	if out, err := exec.Command("go", "build", "-o", todoBin, "../../clients/go/example").CombinedOutput(); err != nil {
		t.Fatalf("building the example: %v\n%s", err, out)
	}
	scratch := t.TempDir()
	httpPort, _ := startDemo(t, bin, scratch)
	home := filepath.Join(scratch, "home") // the default replica directory is under it: a new one
	work := filepath.Join(scratch, "work") // the README's ./alice and ./bob land here
	for _, d := range []string{home, work} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	r := &readmeRun{t: t, dir: work, env: map[string]string{}, ids: map[string]string{},
		bins:  map[string]string{"./cmd/lattice": bin, "./clients/go/example": todoBin},
		ports: map[string]string{}}
	for i := 0; i < 3; i++ {
		r.ports[strconv.Itoa(8080+i)] = strconv.Itoa(httpPort + i)
	}
	for _, kv := range testkit.ChildEnv() {
		k, v, _ := strings.Cut(kv, "=")
		if k != "LATTICE_DEV" {
			r.env[k] = v
		}
	}
	r.env["HOME"], r.env["XDG_CONFIG_HOME"] = home, filepath.Join(home, ".config")
	t.Logf("demo on 127.0.0.1:%d-%d; the README's commands run in %s", httpPort, httpPort+2, work)

	// The CLI transcript, with its watch in "another terminal", started
	// once LATTICE_URL is exported, as the README's reader would.
	r.run(cli.steps[0])
	if len(cliWatch.steps) != 1 {
		t.Fatalf("the watch block (README.md:%d) has %d commands, want 1", cliWatch.line, len(cliWatch.steps))
	}
	watch := r.start(cliWatch.steps[0])
	watch.waitFor(t, "the watch to be online", 30*time.Second, func(ls []string) bool {
		return slices.ContainsFunc(ls, func(l string) bool { return strings.HasPrefix(l, "lattice: online") })
	})
	for _, s := range cli.steps[1:] {
		r.run(s)
	}
	wantChanges := changesByKey(cliWatch.steps[0].want)
	watch.waitFor(t, "the watch to print every change", 30*time.Second, func(ls []string) bool {
		return len(changesByKey(ls)) == len(wantChanges) && countChanges(ls) >= countChanges(cliWatch.steps[0].want)
	})
	watch.stop()
	// Changes to different keys may arrive in either order when one sync
	// sends several (the two offline edits); each key's own do not.
	got := lines(watch.out.String())
	if g := changesByKey(got); fmt.Sprint(g) != fmt.Sprint(wantChanges) || !slices.Equal(statusLines(got), statusLines(cliWatch.steps[0].want)) {
		r.compare("$ "+cliWatch.steps[0].cmd+" (README.md:"+strconv.Itoa(cliWatch.line)+")", cliWatch.steps[0].want, got)
	}

	// The to-do list, with its watch.
	if len(todoWatch.steps) != 1 {
		t.Fatalf("the to-do watch block (README.md:%d) has %d commands, want 1", todoWatch.line, len(todoWatch.steps))
	}
	tw := r.start(todoWatch.steps[0])
	waitConnected(t, tw, "http://127.0.0.1:"+strconv.Itoa(httpPort+1))
	for _, s := range todo.steps {
		r.run(s)
	}
	want := listStates(todoWatch.steps[0].want)
	tw.waitFor(t, "the to-do watch to see every state", 30*time.Second, func(ls []string) bool {
		return len(listStates(ls)) >= len(want)
	})
	tw.stop()
	gotStates := listStates(lines(tw.out.String()))
	if len(gotStates) != len(want) {
		t.Errorf("the to-do watch saw %d states, the README shows %d:\n%s", len(gotStates), len(want), tw.out)
	}
	for i := range min(len(want), len(gotStates)) {
		r.compare(fmt.Sprintf("the to-do watch's state %d", i+1), want[i], gotStates[i])
	}
}

// waitConnected waits until the node at url has a WebSocket client: the
// to-do watch prints nothing before the list changes, so its connection is
// what shows it is there.
func waitConnected(t *testing.T, b *background, url string) {
	t.Helper()
	c := testkit.NewClient()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if b.cmd.ProcessState != nil {
			t.Fatalf("the to-do watch exited: %s", b.out)
		}
		resp, err := c.Get(url + "/metrics")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if m := regexp.MustCompile(`(?m)^lattice_ws_connections (\d+)`).FindSubmatch(body); m != nil && string(m[1]) != "0" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the to-do watch never connected to %s: %s", url, b.out)
		}
	}
}

// changesByKey is a watch's "key = value" lines, each key's values in
// order.
func changesByKey(ls []string) map[string][]string {
	m := map[string][]string{}
	for _, l := range ls {
		if k, v, ok := strings.Cut(l, " = "); ok {
			m[k] = append(m[k], v)
		}
	}
	return m
}

func countChanges(ls []string) int {
	n := 0
	for _, l := range ls {
		if strings.Contains(l, " = ") {
			n++
		}
	}
	return n
}

func statusLines(ls []string) []string { return withPrefix(ls, "lattice: ") }

// withPrefix is the strings of ss that start with prefix.
func withPrefix(ss []string, prefix string) []string {
	var out []string
	for _, s := range ss {
		if strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	return out
}

// listStates splits the to-do watch's output into the lists it printed,
// each once: a change that leaves the list as it was shows nothing new.
func listStates(ls []string) [][]string {
	var states [][]string
	var cur []string
	flush := func() {
		if cur != nil && (len(states) == 0 || !slices.Equal(states[len(states)-1], cur)) {
			states = append(states, cur)
		}
		cur = nil
	}
	for _, l := range ls {
		if strings.HasPrefix(l, "--- ") {
			flush()
			cur = []string{l}
			continue
		}
		if cur != nil {
			cur = append(cur, l)
		}
	}
	flush()
	return states
}
