//go:build linux

package testkit

// Real `lattice serve` processes on loopback addresses, killed and
// restarted on the same data directory and ports, and talked to over
// HTTP. Linux only: it routes all of 127.0.0.0/8 to lo, so each node gets
// its own address, and it kills a node when the test binary dies
// (Pdeathsig).

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// NeedLoopback fails (under CI) or skips when ip cannot be bound: the
// only thing these tests need from the machine.
func NeedLoopback(t testing.TB, ips ...string) {
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

// FreeAddr returns ip:port with the port free for both TCP and UDP just now
// (memberlist binds both). Another process may still take it before the
// node binds; StartFresh retries then.
func FreeAddr(t testing.TB, ip string) string {
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

// Proc is one `lattice serve` node, run as a separate process, possibly
// several times over (after a kill) on the same data directory and ports.
type Proc struct {
	t       testing.TB
	Name    string
	IP      string
	HTTP    string // host:port
	Gossip  string // host:port
	Data    string
	Join    []string
	Extra   []string // further flags, as "--name", "value" pairs
	AsEnv   bool     // pass the flags above as LATTICE_<NAME> variables instead
	Cmdline []string // flags always passed on the command line, after the others
	Args    []string // if set, the whole command line instead of serve and its flags (for lattice demo)
	LogPath string
	Starts  int // how many times it was started

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the running process has exited
	waitErr error
	killed  bool // the test killed or stopped it on purpose
}

// NewProc prepares a node on ip; Start runs it. Its processes are stopped,
// and its log tail printed if the test failed (or LATTICE_E2E_LOGS=1),
// when the test ends.
func NewProc(t testing.TB, name, ip string, join ...string) *Proc {
	t.Helper()
	dir := t.TempDir() // before the cleanup below, so removed after the process stops
	p := &Proc{
		t: t, Name: name, IP: ip, Join: join,
		Data:    filepath.Join(dir, "data"),
		LogPath: filepath.Join(dir, "stderr.log"),
	}
	p.PickPorts()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() || os.Getenv("LATTICE_E2E_LOGS") == "1" {
			p.DumpLog(120)
		}
	})
	return p
}

// PickPorts gives the node other free ports.
func (p *Proc) PickPorts() {
	p.HTTP = FreeAddr(p.t, p.IP)
	p.Gossip = FreeAddr(p.t, p.IP)
}

// URL is the address of path on the node's HTTP listener.
func (p *Proc) URL(path string) string { return "http://" + p.HTTP + path }

// Flags is the command line after "serve".
func (p *Proc) Flags() []string {
	f := []string{
		"--id", p.Name,
		"--data", p.Data,
		"--http", p.HTTP,
		"--gossip", p.Gossip,
		"--ae-interval", "200ms",
		"--log-format", "text",
	}
	if len(p.Join) > 0 {
		f = append(f, "--join", strings.Join(p.Join, ","))
	}
	return append(f, p.Extra...)
}

// Start runs the process once more and waits for /readyz.
func (p *Proc) Start() {
	p.t.Helper()
	if err := p.tryStart(); err != nil {
		p.t.Fatalf("%s: %v", p.Name, err)
	}
}

// StartFresh is Start for a node nobody knows the ports of yet: when a port
// was taken between FreeAddr and the bind, it picks others and tries again.
func (p *Proc) StartFresh() {
	p.t.Helper()
	for attempt := 1; ; attempt++ {
		err := p.tryStart()
		if err == nil {
			return
		}
		if attempt == 5 || !strings.Contains(p.LogTail(20), "address already in use") {
			p.t.Fatalf("%s: %v", p.Name, err)
		}
		p.t.Logf("%s: a port was taken (%v); trying other ports", p.Name, err)
		p.PickPorts()
	}
}

func (p *Proc) tryStart() error {
	bin := Binary(p.t)
	p.mu.Lock()
	if p.cmd != nil && !p.exited() {
		p.mu.Unlock()
		return errors.New("already running")
	}
	p.Starts++
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	args := []string{"serve"}
	env := ChildEnv()
	switch {
	case p.Args != nil:
		args = p.Args
	case p.AsEnv:
		env = append(env, FlagsToEnv(p.Flags())...)
	default:
		args = append(args, p.Flags()...)
	}
	args = append(args, p.Cmdline...)
	fmt.Fprintf(logf, "=== start #%d: lattice %s (env %s)\n", p.Starts, strings.Join(args, " "), strings.Join(latticeVars(env), " "))
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
func (p *Proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitReady waits for /readyz to answer 200, or for the process to exit.
func (p *Proc) waitReady(timeout time.Duration) error {
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
			return fmt.Errorf("exited before it was ready (%v); log tail:\n%s", err, p.LogTail(20))
		default:
		}
		resp, err := c.Get(p.URL("/readyz"))
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
func (p *Proc) ending() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.killed = true
	return p.cmd, p.done
}

// Kill sends SIGKILL and waits for the process to be gone: a crash, with
// no chance to flush or leave the cluster.
func (p *Proc) Kill() {
	p.t.Helper()
	cmd, done := p.ending()
	if cmd == nil {
		return
	}
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatalf("killing %s: %v", p.Name, err)
	}
	<-done
}

// Stop asks the process to shut down (SIGTERM) and kills it if it has not
// within 10 s.
func (p *Proc) Stop() {
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

// Crashed reports an exit the test did not cause.
func (p *Proc) Crashed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.killed || !p.exited() {
		return nil
	}
	return fmt.Errorf("%s exited on its own: %v", p.Name, p.waitErr)
}

// LogTail is the last n lines of the node's log, over all its runs. A run
// of lines that differ only in their time (a warning per dropped message
// to a dead peer) counts as one line, so that the tail still reaches back
// to the events before it.
func (p *Proc) LogTail(n int) string {
	var lines []string
	var last string
	repeats := 0
	flush := func() {
		if repeats > 0 {
			lines = append(lines, fmt.Sprintf("    (and %d more like it)", repeats))
			repeats = 0
		}
	}
	p.ScanLines(func(l string) {
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

// DumpLog logs the last n lines of the node's log.
func (p *Proc) DumpLog(n int) {
	p.t.Logf("----- %s (%s, %d starts): log tail -----\n%s", p.Name, p.HTTP, p.Starts, p.LogTail(n))
}

// ChildEnv is the test's environment without LATTICE_ variables, so that a
// developer's settings (or LATTICE_SEED) never reach a node.
func ChildEnv() []string {
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

func latticeVars(env []string) []string {
	var vs []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "LATTICE_") {
			vs = append(vs, kv)
		}
	}
	return vs
}

// FlagsToEnv turns "--ae-interval", "200ms" into LATTICE_AE_INTERVAL=200ms.
func FlagsToEnv(flags []string) []string {
	var env []string
	for i := 0; i+1 < len(flags); i += 2 {
		name := strings.TrimLeft(flags[i], "-")
		env = append(env, "LATTICE_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))+"="+flags[i+1])
	}
	return env
}

// WaitMembers waits until every node sees every other as reachable.
func WaitMembers(t testing.TB, c *http.Client, nodes []*Proc, timeout time.Duration) {
	t.Helper()
	err := Eventually(timeout, func() error {
		for _, n := range nodes {
			var ci ClusterInfo
			if err := GetJSON(context.Background(), c, n.URL("/v1/cluster"), &ci); err != nil {
				return fmt.Errorf("%s: %w", n.Name, err)
			}
			reach := map[string]bool{}
			for _, m := range ci.Members {
				reach[m.Name] = m.Reachable
			}
			for _, o := range nodes {
				if o != n && !reach[o.Name] {
					return fmt.Errorf("%s does not see %s reachable (members %+v)", n.Name, o.Name, ci.Members)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("cluster did not form within %v: %v", timeout, err)
	}
}

// WaitConverged waits until every node answers /v1/digest with the same
// digest, and returns the digests it saw last.
func WaitConverged(c *http.Client, nodes []*Proc, timeout time.Duration) (map[string]DigestInfo, error) {
	last := map[string]DigestInfo{}
	err := Eventually(timeout, func() error {
		var first string
		for i, n := range nodes {
			var d DigestInfo
			if err := GetJSON(context.Background(), c, n.URL("/v1/digest"), &d); err != nil {
				return fmt.Errorf("%s: %w", n.Name, err)
			}
			last[n.Name] = d
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

// ScanLines calls f for each line of the node's log.
func (p *Proc) ScanLines(f func(string)) {
	fh, err := os.Open(p.LogPath)
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

// LogHealth counts the node's error-level log lines, and returns the lines
// where it died on its own (a Go panic or fatal runtime error), over all
// its runs. Errors alone do not fail a test: memberlist logs some while a
// peer is dead.
func (p *Proc) LogHealth() (errs int, deaths []string) {
	p.ScanLines(func(l string) {
		switch {
		case strings.Contains(l, "level=ERROR"):
			errs++
		case strings.HasPrefix(l, "panic:"), strings.HasPrefix(l, "fatal error:"):
			deaths = append(deaths, l)
		}
	})
	return errs, deaths
}

// CheckLogs fails the test for a node that panicked, and logs how many
// error lines each node wrote.
func CheckLogs(t testing.TB, nodes ...*Proc) {
	t.Helper()
	var counts []string
	for _, n := range nodes {
		errs, deaths := n.LogHealth()
		for _, d := range deaths {
			t.Errorf("%s: %s", n.Name, d)
		}
		counts = append(counts, fmt.Sprintf("%s %d", n.Name, errs))
	}
	t.Logf("error-level log lines: %s", strings.Join(counts, ", "))
}
