//go:build linux

package main

// Helpers for the end-to-end tests in process_test.go: they build the
// lattice binary once, run nodes as real `lattice serve` processes on
// loopback addresses, kill and restart them, and talk to them over HTTP.
// Linux only: it routes all of 127.0.0.0/8 to lo, so each node gets its own
// address, and it kills a node when the test binary dies (Pdeathsig).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var bin struct {
	dir  string // TestMain's temporary directory
	once sync.Once
	path string
	err  error
}

// TestMain owns the directory the binary is built into. The build itself
// runs on the first test that needs a process (latticeBinary), once, so
// that running only the package's unit tests does not pay for it.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lattice-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "making the binary's directory:", err)
		os.Exit(1)
	}
	bin.dir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// latticeBinary builds this package into a binary, once per test run.
func latticeBinary(t *testing.T) string {
	t.Helper()
	bin.once.Do(func() {
		path := filepath.Join(bin.dir, "lattice")
		start := time.Now()
		cmd := exec.Command("go", "build", "-o", path, ".")
		out, err := cmd.CombinedOutput()
		if err != nil {
			bin.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		bin.path = path
		t.Logf("built %s in %v", path, time.Since(start).Round(time.Millisecond))
	})
	if bin.err != nil {
		t.Fatal(bin.err)
	}
	return bin.path
}

// testSeed is the seed of every random choice a test makes: LATTICE_SEED
// if set, to replay a run, otherwise the clock. It is logged either way.
func testSeed(t *testing.T) (int64, *rand.Rand) {
	t.Helper()
	seed := time.Now().UnixNano()
	if s := os.Getenv("LATTICE_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("LATTICE_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with LATTICE_SEED=%d)", seed, seed)
	return seed, rand.New(rand.NewPCG(uint64(seed), 0))
}

// needLoopback fails (under CI) or skips when ip cannot be bound: the
// only thing these tests need from the machine.
func needLoopback(t *testing.T, ips ...string) {
	t.Helper()
	for _, ip := range ips {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("cannot bind %s: %v", ip, err)
			}
			t.Skipf("cannot bind %s: %v", ip, err)
		}
		ln.Close()
	}
}

// freeAddr returns ip:port with the port free for both TCP and UDP just now
// (memberlist binds both). Another process may still take it before the
// node binds; startFresh retries then.
func freeAddr(t *testing.T, ip string) string {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatalf("finding a free port on %s: %v", ip, err)
		}
		addr := ln.Addr().String()
		pc, err := net.ListenPacket("udp", addr)
		ln.Close()
		if err != nil {
			continue
		}
		pc.Close()
		return addr
	}
	t.Fatalf("no port on %s free for both TCP and UDP", ip)
	return ""
}

// proc is one `lattice serve` node, run as a separate process, possibly
// several times over (after a kill) on the same data directory and ports.
type proc struct {
	t       *testing.T
	name    string
	ip      string
	http    string // host:port
	gossip  string // host:port
	data    string
	join    []string
	extra   []string // further flags, as "--name", "value" pairs
	asEnv   bool     // pass the flags above as LATTICE_<NAME> variables instead
	cmdline []string // flags always passed on the command line, after the others
	logPath string
	starts  int

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the running process has exited
	waitErr error
	killed  bool // the test killed or stopped it on purpose
}

// newProc prepares a node on ip; start runs it. Its processes are stopped,
// and its log tail printed if the test failed (or LATTICE_E2E_LOGS=1),
// when the test ends.
func newProc(t *testing.T, name, ip string, join ...string) *proc {
	t.Helper()
	dir := t.TempDir() // before the cleanup below, so removed after the process stops
	p := &proc{
		t: t, name: name, ip: ip, join: join,
		data:    filepath.Join(dir, "data"),
		logPath: filepath.Join(dir, "stderr.log"),
	}
	p.pickPorts()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() || os.Getenv("LATTICE_E2E_LOGS") == "1" {
			p.dumpLog(120)
		}
	})
	return p
}

func (p *proc) pickPorts() {
	p.http = freeAddr(p.t, p.ip)
	p.gossip = freeAddr(p.t, p.ip)
}

func (p *proc) url(path string) string { return "http://" + p.http + path }

// flags is the command line after "serve".
func (p *proc) flags() []string {
	f := []string{
		"--id", p.name,
		"--data", p.data,
		"--http", p.http,
		"--gossip", p.gossip,
		"--ae-interval", "200ms",
		"--log-format", "text",
	}
	if len(p.join) > 0 {
		f = append(f, "--join", strings.Join(p.join, ","))
	}
	return append(f, p.extra...)
}

// start runs the process once more and waits for /readyz.
func (p *proc) start() {
	p.t.Helper()
	if err := p.tryStart(); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
}

// startFresh is start for a node nobody knows the ports of yet: when a port
// was taken between freeAddr and the bind, it picks others and tries again.
func (p *proc) startFresh() {
	p.t.Helper()
	for attempt := 1; ; attempt++ {
		err := p.tryStart()
		if err == nil {
			return
		}
		if attempt == 5 || !strings.Contains(p.logTail(20), "address already in use") {
			p.t.Fatalf("%s: %v", p.name, err)
		}
		p.t.Logf("%s: a port was taken (%v); trying other ports", p.name, err)
		p.pickPorts()
	}
}

func (p *proc) tryStart() error {
	bin := latticeBinary(p.t)
	p.mu.Lock()
	if p.cmd != nil && !p.exited() {
		p.mu.Unlock()
		return errors.New("already running")
	}
	p.starts++
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	args := []string{"serve"}
	env := childEnv()
	if p.asEnv {
		env = append(env, flagsToEnv(p.flags())...)
	} else {
		args = append(args, p.flags()...)
	}
	args = append(args, p.cmdline...)
	fmt.Fprintf(logf, "=== start #%d: lattice %s (env %s)\n", p.starts, strings.Join(args, " "), strings.Join(latticeVars(env), " "))
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	// The node dies with the test binary, even when a timeout kills it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		p.mu.Unlock()
		return err
	}
	done := make(chan struct{})
	p.cmd, p.done, p.waitErr, p.killed = cmd, done, nil, false
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(done)
	}()
	return p.waitReady(30 * time.Second)
}

// exited reports whether the last process has exited; p.mu held or not.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitReady waits for /readyz to answer 200, or for the process to exit.
func (p *proc) waitReady(timeout time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		p.mu.Lock()
		done := p.done
		p.mu.Unlock()
		select {
		case <-done:
			p.mu.Lock()
			err := p.waitErr
			p.mu.Unlock()
			return fmt.Errorf("exited before it was ready (%v); log tail:\n%s", err, p.logTail(20))
		default:
		}
		resp, err := c.Get(p.url("/readyz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v (last: %v)", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ending marks the running process as ended by the test and returns it
// (nil if it never started).
func (p *proc) ending() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.killed = true
	return p.cmd, p.done
}

// kill sends SIGKILL and waits for the process to be gone: a crash, with
// no chance to flush or leave the cluster.
func (p *proc) kill() {
	p.t.Helper()
	cmd, done := p.ending()
	if cmd == nil {
		return
	}
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatalf("killing %s: %v", p.name, err)
	}
	<-done
}

// stop asks the process to shut down (SIGTERM) and kills it if it has not
// within 10 s.
func (p *proc) stop() {
	cmd, done := p.ending()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// crashed reports an exit the test did not cause.
func (p *proc) crashed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.killed || !p.exited() {
		return nil
	}
	return fmt.Errorf("%s exited on its own: %v", p.name, p.waitErr)
}

// logTail is the last n lines of the node's log, over all its runs. A run
// of lines that differ only in their time (a warning per dropped message
// to a dead peer) counts as one line, so that the tail still reaches back
// to the events before it.
func (p *proc) logTail(n int) string {
	var lines []string
	var last string
	repeats := 0
	flush := func() {
		if repeats > 0 {
			lines = append(lines, fmt.Sprintf("    (and %d more like it)", repeats))
			repeats = 0
		}
	}
	p.scanLines(func(l string) {
		key := l
		if strings.HasPrefix(l, "time=") {
			if _, rest, ok := strings.Cut(l, " "); ok {
				key = rest
			}
		}
		if key == last {
			repeats++
			return
		}
		flush()
		last = key
		lines = append(lines, l)
	})
	flush()
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d earlier lines)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

func (p *proc) dumpLog(n int) {
	p.t.Logf("----- %s (%s, %d starts): log tail -----\n%s", p.name, p.http, p.starts, p.logTail(n))
}

// childEnv is the test's environment without LATTICE_ variables, so that a
// developer's settings (or LATTICE_SEED) never reach a node.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LATTICE_") {
			env = append(env, kv)
		}
	}
	// These tests are about replication, not auth (which node/ tests):
	// the nodes run in development mode, as `lattice demo` does.
	return append(env, "LATTICE_DEV=true")
}

func latticeVars(env []string) []string { return withPrefix(env, "LATTICE_") }

// flagsToEnv turns "--ae-interval", "200ms" into LATTICE_AE_INTERVAL=200ms.
func flagsToEnv(flags []string) []string {
	var env []string
	for i := 0; i+1 < len(flags); i += 2 {
		name := strings.TrimLeft(flags[i], "-")
		env = append(env, "LATTICE_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))+"="+flags[i+1])
	}
	return env
}

// newClient is an HTTP client for talking to nodes. Go never retries a
// POST by itself, so one call is one attempt: the counters' upper bounds
// depend on that.
func newClient() *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 32},
	}
}

// getJSON GETs url into v, failing on any status but 200.
func getJSON(ctx context.Context, c *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return &statusError{resp.StatusCode, strings.TrimSpace(string(body))}
	}
	return json.Unmarshal(body, v)
}

type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.body) }

// post POSTs a JSON body and returns the status and body.
func post(ctx context.Context, c *http.Client, url string, body any) (int, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// neverSent reports whether a request's error proves it never reached the
// node: the connection was refused, so no byte of it was written.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// clusterInfo is the part of GET /v1/cluster the tests read.
type clusterInfo struct {
	Name    string `json:"name"`
	ID      string `json:"id"`
	HTTP    string `json:"http"`
	Members []struct {
		Name      string `json:"name"`
		Reachable bool   `json:"reachable"`
	} `json:"members"`
}

type digestInfo struct {
	Digest  string            `json:"digest"`
	Objects int               `json:"objects"`
	VV      map[string]uint64 `json:"vv"`
}

// eventually calls f until it returns nil, every 100 ms for up to timeout,
// and returns f's last error if it never does.
func eventually(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitMembers waits until every node sees every other as reachable.
func waitMembers(t *testing.T, c *http.Client, nodes []*proc, timeout time.Duration) {
	t.Helper()
	err := eventually(timeout, func() error {
		for _, n := range nodes {
			var ci clusterInfo
			if err := getJSON(context.Background(), c, n.url("/v1/cluster"), &ci); err != nil {
				return fmt.Errorf("%s: %w", n.name, err)
			}
			reach := map[string]bool{}
			for _, m := range ci.Members {
				reach[m.Name] = m.Reachable
			}
			for _, o := range nodes {
				if o != n && !reach[o.name] {
					return fmt.Errorf("%s does not see %s reachable (members %+v)", n.name, o.name, ci.Members)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("cluster did not form within %v: %v", timeout, err)
	}
}

// waitConverged waits until every node answers /v1/digest with the same
// digest, and returns the digests it saw last.
func waitConverged(c *http.Client, nodes []*proc, timeout time.Duration) (map[string]digestInfo, error) {
	last := map[string]digestInfo{}
	err := eventually(timeout, func() error {
		var first string
		for i, n := range nodes {
			var d digestInfo
			if err := getJSON(context.Background(), c, n.url("/v1/digest"), &d); err != nil {
				return fmt.Errorf("%s: %w", n.name, err)
			}
			last[n.name] = d
			if i == 0 {
				first = d.Digest
			} else if d.Digest != first {
				return fmt.Errorf("digests differ")
			}
		}
		return nil
	})
	return last, err
}

// scanLines calls f for each line of the node's log.
func (p *proc) scanLines(f func(string)) {
	fh, err := os.Open(p.logPath)
	if err != nil {
		f(fmt.Sprintf("(no log: %v)", err))
		return
	}
	defer fh.Close()
	s := bufio.NewScanner(fh)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		f(s.Text())
	}
}

// logHealth counts the node's error-level log lines, and returns the lines
// where it died on its own (a Go panic or fatal runtime error), over all
// its runs. Errors alone do not fail a test: memberlist logs some while a
// peer is dead.
func (p *proc) logHealth() (errs int, deaths []string) {
	p.scanLines(func(l string) {
		switch {
		case strings.Contains(l, "level=ERROR"):
			errs++
		case strings.HasPrefix(l, "panic:"), strings.HasPrefix(l, "fatal error:"):
			deaths = append(deaths, l)
		}
	})
	return errs, deaths
}

// checkLogs fails the test for a node that panicked, and logs how many
// error lines each node wrote.
func checkLogs(t *testing.T, nodes ...*proc) {
	t.Helper()
	var counts []string
	for _, n := range nodes {
		errs, deaths := n.logHealth()
		for _, d := range deaths {
			t.Errorf("%s: %s", n.name, d)
		}
		counts = append(counts, fmt.Sprintf("%s %d", n.name, errs))
	}
	t.Logf("error-level log lines: %s", strings.Join(counts, ", "))
}
