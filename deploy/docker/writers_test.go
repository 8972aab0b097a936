package dockertest

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lattice-sync/lattice/internal/testkit"
)

// The clients that write throughout the test, and the history they record.

// history records the clients' writes as they saw them.
type history struct{ testkit.History }

// count counts the acknowledged writes from the from-th on that match.
func (h *history) count(from int, match func(testkit.Op) bool) int {
	n := 0
	for _, o := range h.Ops()[from:] {
		if o.Outcome == testkit.OK && match(o) {
			n++
		}
	}
	return n
}

func (h *history) acked(node string, from int) int {
	return h.count(from, func(o testkit.Op) bool { return o.Node == node })
}

func (h *history) ackedOthers(node string, from int) int {
	return h.count(from, func(o testkit.Op) bool { return o.Node != node })
}

type writers struct {
	stop chan struct{}
	wg   sync.WaitGroup
}

func (w *writers) halt() {
	close(w.stop)
	w.wg.Wait()
}

var writerIDs atomic.Int64

// startWriters starts n clients, spread over the nodes, each adding unique
// elements to the set and incrementing the counter at random.
func startWriters(c *cluster, h *history, n int) *writers {
	ws := &writers{stop: make(chan struct{})}
	for i := range n {
		id := writerIDs.Add(1)
		rng := testkit.Rand(c.seed, uint64(id))
		s := services[i%len(services)]
		ws.wg.Add(1)
		go func() {
			defer ws.wg.Done()
			for seq := 0; ; seq++ {
				select {
				case <-ws.stop:
					return
				case <-time.After(time.Duration(5+rng.IntN(20)) * time.Millisecond):
				}
				op := testkit.Op{Process: int(id), Node: s}
				body := ""
				if rng.IntN(2) == 0 {
					op.Field, op.Kind, op.By = counterKey, testkit.Inc, int64(1+rng.IntN(5))
					body = fmt.Sprintf(`{"type":"counter","op":"inc","by":%d}`, op.By)
				} else {
					op.Field, op.Kind, op.Value = setKey, testkit.Add, fmt.Sprintf("w%d-%d", id, seq)
					body = fmt.Sprintf(`{"type":"set","op":"add","value":%q}`, op.Value)
				}
				_ = h.Do(op, func() (testkit.Outcome, error) { return post(c, s, body) })
			}
		}()
	}
	return ws
}

func post(c *cluster, s, body string) (testkit.Outcome, error) {
	key := counterKey
	if strings.Contains(body, `"set"`) {
		key = setKey
	}
	resp, err := c.http.Post(c.url(s, "/v1/objects/"+key), "application/json", strings.NewReader(body))
	if err != nil {
		if testkit.NeverSent(err) {
			return testkit.Fail, err // never reached the node
		}
		return testkit.Info, err
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
		return testkit.OK, nil
	case resp.StatusCode < 500:
		return testkit.Fail, fmt.Errorf("refused: %s", resp.Status) // nothing changed
	}
	return testkit.Info, fmt.Errorf("%s", resp.Status)
}
