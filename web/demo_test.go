package web_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/internal/testkit"
)

// The demo cluster the browser test runs against, and the browser it needs.

// findChromium returns the browser to drive, or skips (fails under CI).
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "browser test: no chromium on PATH (install it: apt install chromium)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("LATTICE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "artifacts", "browser")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startDemo runs `lattice demo` on free ports and returns it and the
// nodes' URLs once each sees the other two.
func startDemo(t *testing.T) (*testkit.Proc, []string) {
	t.Helper()
	httpPort, gossipPort := freePorts(t)
	demo := testkit.NewProc(t, "demo", "127.0.0.1")
	demo.HTTP = net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort)) // the first node's, which it waits for
	demo.Args = []string{"demo", "--data", t.TempDir(),
		"--port", strconv.Itoa(httpPort), "--gossip-port", strconv.Itoa(gossipPort), "--log-level", "info"}
	demo.Start()

	urls := make([]string, 3)
	for i := range urls {
		urls[i] = fmt.Sprintf("http://127.0.0.1:%d", httpPort+i)
	}
	waitDemo(t, demo, urls)
	return demo, urls
}

// waitDemo waits until every node of the demo sees the other two.
func waitDemo(t *testing.T, demo *testkit.Proc, urls []string) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	eventually(t, "the demo cluster forms", func() (bool, string) {
		if err := demo.Crashed(); err != nil {
			t.Fatal(err)
		}
		for _, u := range urls {
			var info struct {
				Members []struct {
					Reachable bool `json:"reachable"`
				} `json:"members"`
			}
			res, err := client.Get(u + "/v1/cluster")
			if err != nil {
				return false, err.Error()
			}
			err = json.NewDecoder(res.Body).Decode(&info)
			res.Body.Close()
			if err != nil {
				return false, u + ": " + err.Error()
			}
			reachable := 0
			for _, m := range info.Members {
				if m.Reachable {
					reachable++
				}
			}
			if reachable != 2 {
				return false, fmt.Sprintf("%s sees %d reachable peers", u, reachable)
			}
		}
		return true, ""
	})
}

// freePorts finds two runs of three consecutive free ports on 127.0.0.1,
// for the demo's HTTP listeners and its gossip (TCP and UDP).
func freePorts(t *testing.T) (httpPort, gossipPort int) {
	t.Helper()
	free := func(base int) bool {
		var closers []func() error
		defer func() {
			for _, c := range closers {
				_ = c()
			}
		}()
		for p := base; p < base+3; p++ {
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return false
			}
			closers = append(closers, l.Close)
			u, err := net.ListenPacket("udp", addr)
			if err != nil {
				return false
			}
			closers = append(closers, u.Close)
		}
		return true
	}
	for range 100 {
		base := 20000 + rand.IntN(30000)
		if free(base) && free(base+3) {
			return base, base + 3
		}
	}
	t.Fatal(errors.New("no free ports for the demo"))
	return 0, 0
}
