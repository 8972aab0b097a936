package main

// The Yjs peer: Debian's node-yjs and node-y-websocket (.ci/run installs
// them), driven through the scripts in deploy/bench/yjs with `node`.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// yjsNodePath is where Debian puts Node.js packages; a Node.js that is not
// Debian's own (NodeSource's, for one) does not look there by itself.
var yjsNodePath = []string{"/usr/share/nodejs", "/usr/lib/nodejs"}

type yjsPeer struct {
	node     string   // the node binary
	scripts  string   // deploy/bench/yjs
	env      []string // with NODE_PATH
	versions string   // "yjs 13.5.43, y-websocket 1.4.5"
}

// findYjs checks that node, yjs, y-websocket and ws load, and finds the
// scripts.
func findYjs() (*yjsPeer, error) {
	bin, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("node (Node.js) is not installed")
	}
	root, err := moduleRoot()
	if err != nil {
		return nil, fmt.Errorf("the peer's scripts (deploy/bench/yjs): %w", err)
	}
	scripts := filepath.Join(root, "deploy", "bench", "yjs")
	if _, err := os.Stat(filepath.Join(scripts, "size.js")); err != nil {
		return nil, fmt.Errorf("the peer's scripts: %w", err)
	}
	paths := strings.Split(os.Getenv("NODE_PATH"), string(os.PathListSeparator))
	for _, p := range yjsNodePath {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			paths = append(paths, p)
		}
	}
	env := append(os.Environ(), "NODE_PATH="+strings.Trim(strings.Join(paths, string(os.PathListSeparator)), string(os.PathListSeparator)))
	p := &yjsPeer{node: bin, scripts: scripts, env: env}
	out, err := p.command("-e", `const v = n => require(n + '/package.json').version;
require('yjs'); require('y-websocket/bin/utils'); require('ws');
console.log('yjs ' + v('yjs') + ', y-websocket ' + v('y-websocket') + ', ws ' + v('ws'))`).CombinedOutput()
	if err != nil {
		first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "Cannot find module") {
				first = strings.TrimSpace(l)
				break
			}
		}
		return nil, fmt.Errorf("yjs, y-websocket or ws do not load (apt-get install node-yjs node-y-websocket node-ws): %s", first)
	}
	p.versions = strings.TrimSpace(string(out))
	return p, nil
}

func (p *yjsPeer) command(args ...string) *exec.Cmd {
	c := exec.Command(p.node, args...)
	c.Env = p.env
	return c
}

func (p *yjsPeer) script(name string, args ...string) *exec.Cmd {
	return p.command(append([]string{filepath.Join(p.scripts, name)}, args...)...)
}

// yjsSize is size.js's answer.
type yjsSize struct {
	N          int       `json:"n"`
	Updates    int       `json:"updates"`
	Wire       int       `json:"wire"`
	State      int       `json:"state"`
	StateV2    int       `json:"stateV2"`
	ApplyRates []float64 `json:"applyRates"`
}

// sizeRun plays the workload (replica, field, value per write) in Yjs.
func (p *yjsPeer) sizeRun(writes []sizeWrite, reps int) (*yjsSize, error) {
	in := struct {
		Writes [][3]any `json:"writes"`
		Reps   int      `json:"reps"`
	}{Reps: reps}
	for _, w := range writes {
		in.Writes = append(in.Writes, [3]any{w.replica, w.field, w.value})
	}
	b, _ := json.Marshal(in)
	c := p.script("size.js")
	c.Stdin = bytes.NewReader(b)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return nil, fmt.Errorf("size.js: %v: %s", err, stderr.String())
	}
	var r yjsSize
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("size.js answered %q: %w", out, err)
	}
	return &r, nil
}

// yjsProc is a running script that talks in lines.
type yjsProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *bytes.Buffer
}

func (p *yjsPeer) start(name string, args ...string) (*yjsProc, error) {
	c := p.script(name, args...)
	stdin, err := c.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := c.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	c.Stderr = &stderr
	if err := c.Start(); err != nil {
		return nil, err
	}
	y := &yjsProc{cmd: c, stdin: stdin, lines: make(chan string, 16), stderr: &stderr}
	go func() {
		defer close(y.lines)
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			y.lines <- s.Text()
		}
	}()
	return y, nil
}

// expect waits for a line starting with prefix and returns it.
func (y *yjsProc) expect(prefix string, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case l, ok := <-y.lines:
			if !ok {
				return "", fmt.Errorf("%s exited waiting for %q: %s", filepath.Base(y.cmd.Path), prefix, y.stderr.String())
			}
			if strings.HasPrefix(l, prefix) {
				return l, nil
			}
		case <-t.C:
			return "", fmt.Errorf("no %q within %v: %s", prefix, timeout, y.stderr.String())
		}
	}
}

func (y *yjsProc) send(line string) error {
	_, err := io.WriteString(y.stdin, line+"\n")
	return err
}

// stop closes stdin (the scripts exit on it) and waits, killing after a
// second.
func (y *yjsProc) stop() {
	y.stdin.Close()
	done := make(chan struct{})
	go func() { y.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		y.cmd.Process.Kill()
		<-done
	}
}
