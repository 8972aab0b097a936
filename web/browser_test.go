package web_test

// TestBrowserCollaboration is the demo's end-to-end claim, in a real
// browser against a real three-node cluster: two tabs on two different
// nodes edit one board, one of them goes offline and keeps editing while
// the other edits the same cards, and once it is back both tabs show the
// same board and hold byte-identical canonical states.
//
// It needs chromium (apt install chromium) and skips without it, except
// under CI=true, where a missing browser is a failure. Screenshots of every
// step go to $LATTICE_ARTIFACTS (default <repo>/artifacts/browser).

import (
	"context"
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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/lattice-sync/lattice/internal/testkit"
)

// waitFor bounds every eventual condition in this test. Convergence after
// reconnecting takes well under a second on one machine; the margin is for
// slow CI hosts.
const waitFor = 20 * time.Second

func TestBrowserCollaboration(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: skipped in -short mode")
	}
	browserPath := findChromium(t)
	artifacts := artifactsDir(t)
	demo, nodes := startDemo(t)

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(browserPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.WindowSize(1280, 900),
	)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browser); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", browserPath, err)
	}

	// Two tabs in separate browser contexts (separate storage, like two
	// people), each served by, and syncing through, a different node.
	a := openPage(t, browser, "A", nodes[0], artifacts)
	b := openPage(t, browser, "B", nodes[1], artifacts)
	for _, p := range []*page{a, b} {
		p.eventually("online", func() (bool, string) {
			s := p.eval(`latticeDemo.status()`)
			return s == `"online"`, s
		})
	}
	a.shot("01-online")
	b.shot("01-online")

	// Each tab says which replica it is.
	for _, p := range []*page{a, b} {
		p.eventually("the tab's replica id shown", func() (bool, string) {
			s := p.eval(`document.getElementById('tab-identity').dataset.replica === latticeDemo.client.replica && document.getElementById('tab-identity').textContent`)
			return strings.Contains(s, "This tab is replica"), s
		})
	}

	// A key written from outside (curl, the CLI) shows in the key browser,
	// live, although it is not one of the board's.
	postInc := func(url string) {
		res, err := http.Post(url+"/v1/objects/board/likes", "application/json", strings.NewReader(`{"type":"counter","op":"inc"}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	likes := `(document.querySelector('#keys tr[data-key="board/likes"] .key-value') || {}).textContent`
	postInc(nodes[2])
	a.eventually("board/likes in A's key browser", func() (bool, string) {
		s := a.eval(likes)
		return s == `"1"`, s
	})
	postInc(nodes[2])
	a.eventually("board/likes updated live in A's key browser", func() (bool, string) {
		s := a.eval(likes)
		return s == `"2"`, s
	})

	// An edit on A shows on B.
	a.do(chromedp.SendKeys(chromedp.ID("new-card"), "Write the browser test"),
		chromedp.Click(chromedp.CSS(`#add-card button[type=submit]`)))
	card := a.cardID("Write the browser test")
	b.eventually("the card A added", func() (bool, string) {
		s := b.snapshot()
		return s.card(card) != nil, s.String()
	})
	a.shot("02-added")
	b.shot("02-received")

	// A goes offline and edits; B edits the same card and the title.
	a.do(chromedp.Click(chromedp.CSS(`label.switch`)))
	a.eventually("offline", func() (bool, string) {
		s := a.eval(`latticeDemo.status()`)
		return s == `"offline"`, s
	})
	a.vote(card, "up")
	a.vote(card, "up")
	a.tag(card, "from-a")
	a.setTitle("Sprint (A's title)")
	a.setNote("Note written offline on A")
	a.do(chromedp.SendKeys(chromedp.ID("new-card"), "Card made offline"),
		chromedp.Click(chromedp.CSS(`#add-card button[type=submit]`)))
	offlineCard := a.cardID("Card made offline")
	a.eventually("pending offline edits", func() (bool, string) {
		n := a.eval(`latticeDemo.pending()`)
		return n != "0", n
	})

	b.vote(card, "up")
	b.tag(card, "from-b")
	b.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`li.card[data-id=%q] .check`, card))))
	b.setTitle("Sprint (B's title)")
	b.setNote("Note written online on B")
	b.eventually("B's edits acknowledged", func() (bool, string) {
		n := b.eval(`latticeDemo.pending()`)
		return n == "0", n
	})
	if s := a.snapshot(); s.card(card).hasTag("from-b") {
		t.Errorf("offline tab A shows B's tag before reconnecting: %s", s)
	}
	if s := b.snapshot(); s.card(offlineCard) != nil {
		t.Errorf("B shows a card that offline tab A has not sent: %s", s)
	}
	a.shot("03-offline-edits")
	b.shot("03-concurrent-edits")

	// A comes back: both tabs converge on one board.
	a.do(chromedp.Click(chromedp.CSS(`label.switch`)))
	var last string
	eventually(t, "both tabs show the same board", func() (bool, string) {
		sa, sb := a.eval(`latticeDemo.boardText()`), b.eval(`latticeDemo.boardText()`)
		ca, cb := a.eval(`JSON.stringify(latticeDemo.canonical())`), b.eval(`JSON.stringify(latticeDemo.canonical())`)
		pa, pb := a.eval(`latticeDemo.pending()`), b.eval(`latticeDemo.pending()`)
		last = fmt.Sprintf("A: %s\nB: %s\npending A=%s B=%s\ncanonical equal: %v", sa, sb, pa, pb, ca == cb)
		return sa == sb && ca == cb && pa == "0" && pb == "0" && strings.Contains(sa, "from-a") && strings.Contains(sa, "Card made offline"), last
	}, a, b)
	t.Logf("converged board:\n%s", last)

	s := a.snapshot()
	c := s.card(card)
	if c.Votes != 3 || !c.hasTag("from-a") || !c.hasTag("from-b") || !c.Done {
		t.Errorf("card after merging: votes %d (want 2 from A + 1 from B), tags %v (want from-a and from-b), done %v (want true)", c.Votes, c.Tags, c.Done)
	}
	if s.card(offlineCard) == nil {
		t.Errorf("the card A made offline is missing after reconnecting: %s", s)
	}
	if s.Title != "Sprint (A's title)" && s.Title != "Sprint (B's title)" {
		t.Errorf("title %q is neither tab's write", s.Title)
	}
	if len(s.Notes) != 2 {
		t.Errorf("the note written concurrently on both tabs shows %d values %q, want both (a multi-value register)", len(s.Notes), s.Notes)
	}
	for _, p := range []*page{a, b} {
		p.eventually("the cluster panel says converged", func() (bool, string) {
			st := p.eval(`document.getElementById('converged').dataset.state`)
			return st == `"converged"`, st
		})
	}
	a.shot("04-converged")
	b.shot("04-converged")

	// The cluster panel: A cuts node2 (B's node) off from its peers. Both
	// tabs stay online, each with its own node, and edit on both sides of
	// the partition; neither side sees the other's edit until A heals.
	a.do(chromedp.Click(chromedp.CSS(`li.node[data-name="node2"] .node-actions button`)))
	for _, p := range []*page{a, b} {
		p.eventually("node2 shown cut off", func() (bool, string) {
			st := p.eval(`document.querySelector('li.node[data-name="node2"]').dataset.state`)
			return st == `"cut"`, st
		})
	}
	// The healthy side of the cut is healthy, not degraded; B sees in its
	// activity log the cut A made.
	a.eventually("node1 shown healthy", func() (bool, string) {
		st := a.eval(`document.querySelector('li.node[data-name="node1"]').dataset.state`)
		return st == `"up"`, st
	})
	b.eventually("A's cut in B's activity log", func() (bool, string) {
		s := b.eval(`document.getElementById('activity').textContent`)
		return strings.Contains(s, "(changed elsewhere)"), s
	})
	a.vote(card, "up")
	a.do(chromedp.SendKeys(chromedp.ID("new-card"), "Made on the majority side"),
		chromedp.Click(chromedp.CSS(`#add-card button[type=submit]`)))
	b.vote(card, "down")
	b.do(chromedp.SendKeys(chromedp.ID("new-card"), "Made on the cut-off side"),
		chromedp.Click(chromedp.CSS(`#add-card button[type=submit]`)))
	majority, minority := a.cardID("Made on the majority side"), b.cardID("Made on the cut-off side")
	for _, p := range []*page{a, b} {
		p.eventually("edits acknowledged by the tab's own node", func() (bool, string) {
			n := p.eval(`latticeDemo.pending()`)
			return n == "0", n
		})
	}
	if s := b.snapshot(); s.card(majority) != nil {
		t.Errorf("B, on the cut-off node, shows a card made on the other side: %s", s)
	}
	if s := a.snapshot(); s.card(minority) != nil {
		t.Errorf("A shows a card made on the cut-off node before healing: %s", s)
	}
	for _, p := range []*page{a, b} {
		p.eventually("the cluster panel says diverged", func() (bool, string) {
			st := p.eval(`document.getElementById('converged').dataset.state`)
			return st != `"converged"`, st
		})
	}
	a.shot("05-partitioned")
	b.shot("05-partitioned")

	a.do(chromedp.Click(chromedp.ID("heal")))
	eventually(t, "both tabs show the same board after healing", func() (bool, string) {
		sa, sb := a.eval(`latticeDemo.boardText()`), b.eval(`latticeDemo.boardText()`)
		ca, cb := a.eval(`JSON.stringify(latticeDemo.canonical())`), b.eval(`JSON.stringify(latticeDemo.canonical())`)
		last = fmt.Sprintf("A: %s\nB: %s\ncanonical equal: %v", sa, sb, ca == cb)
		return ca == cb && strings.Contains(sa, "Made on the cut-off side") && strings.Contains(sb, "Made on the majority side"), last
	}, a, b)
	if c := a.snapshot().card(card); c.Votes != 3 {
		t.Errorf("votes after healing: %d, want 3 (+1 on one side, -1 on the other)", c.Votes)
	}
	for _, p := range []*page{a, b} {
		p.eventually("the cluster panel says converged after healing", func() (bool, string) {
			st := p.eval(`document.getElementById('converged').dataset.state`)
			return st == `"converged"`, st
		})
	}
	a.eventually("convergence timed from the heal", func() (bool, string) {
		s := a.eval(`document.getElementById('activity').textContent`)
		return strings.Contains(s, "after the heal"), s
	})
	a.shot("06-healed")
	b.shot("06-healed")

	// A new demo on the same ports (--fresh: a new cluster): the tab's
	// replica belongs to the old one, whose cards exist nowhere now, so the
	// tab starts over (it reloads) with a new replica of the new cluster
	// instead of showing them.
	oldReplica := a.eval(`latticeDemo.client.replica`)
	demo.Stop()
	demo.Args = append(demo.Args, "--fresh")
	demo.Start()
	waitDemo(t, demo, nodes)
	a.eventually("a new replica, of the new cluster, with an empty board", func() (bool, string) {
		s := a.eval(`typeof latticeDemo !== 'undefined' && latticeDemo.client && latticeDemo.status() === 'online' && latticeDemo.client.replica !== ` + oldReplica + ` && latticeDemo.boardText()`)
		return strings.Contains(s, `\"cards\":[]`), s
	})
	a.shot("07-new-cluster")
}

// page is one browser tab running the demo.
type page struct {
	t         *testing.T
	name, url string
	ctx       context.Context
	artifacts string

	mu      sync.Mutex
	console []string
}

func openPage(t *testing.T, browser context.Context, name, url, artifacts string) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	p := &page{t: t, name: name, url: url, ctx: ctx, artifacts: artifacts}
	// The first Run opens the tab, which lives as long as the context of
	// that call: so no timeout here. Console must not race with it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("page %s: opening a tab: %v", name, err)
	}
	// Keep the page's console, to show with a failure.
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.console = append(p.console, m.String())
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			p.mu.Lock()
			defer p.mu.Unlock()
			t.Logf("page %s console:\n  %s", p.name, strings.Join(p.console, "\n  "))
		}
	})
	p.do(chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("new-card")))
	p.eventually("the demo script", func() (bool, string) {
		v := p.eval(`typeof latticeDemo === 'object' && latticeDemo.client !== null`)
		return v == "true", v
	})
	return p
}

func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitFor)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.shot("failed")
		p.t.Fatalf("page %s: %v", p.name, err)
	}
}

// eval returns the JSON of a JavaScript expression's value.
func (p *page) eval(expr string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitFor)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](expr))
	if err != nil {
		p.t.Fatalf("page %s: evaluating %s: %v", p.name, expr, err)
	}
	return string(v)
}

func (p *page) eventually(what string, cond func() (bool, string)) {
	p.t.Helper()
	eventually(p.t, fmt.Sprintf("page %s: %s", p.name, what), cond, p)
}

// shot saves a full-page screenshot as <artifacts>/<step>-<page>.png.
func (p *page) shot(step string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitFor)
	defer cancel()
	// A full-page capture of a scrolled page draws the sticky header
	// mid-page: scroll to the top first.
	if err := chromedp.Do(ctx, script(`window.scrollTo(0, 0)`)); err != nil {
		p.t.Logf("page %s: scrolling up: %v", p.name, err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Errorf("page %s: screenshot %s: %v", p.name, step, err)
		return
	}
	path := filepath.Join(p.artifacts, fmt.Sprintf("%s-%s.png", step, p.name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Errorf("saving %s: %v", path, err)
		return
	}
	p.t.Logf("screenshot: %s", path)
}

type snapshot struct {
	Title string   `json:"title"`
	Cards []*card  `json:"cards"`
	Notes []string `json:"notes"`
}

type card struct {
	ID    string   `json:"id"`
	Text  string   `json:"text"`
	Votes int      `json:"votes"`
	Tags  []string `json:"tags"`
	Done  bool     `json:"done"`
}

func (s snapshot) String() string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (s snapshot) card(id string) *card {
	for _, c := range s.Cards {
		if c.ID == id {
			return c
		}
	}
	return nil
}

func (c *card) hasTag(tag string) bool {
	if c == nil {
		return false
	}
	for _, t := range c.Tags {
		if t == tag {
			return true
		}
	}
	return false
}

// snapshot is what the page renders: the board as the person sees it.
func (p *page) snapshot() snapshot {
	p.t.Helper()
	var s snapshot
	if err := json.Unmarshal([]byte(p.eval(`latticeDemo.snapshot()`)), &s); err != nil {
		p.t.Fatalf("page %s: decoding the board: %v", p.name, err)
	}
	return s
}

// cardID waits for the card with this text and returns its id.
func (p *page) cardID(text string) string {
	p.t.Helper()
	var id string
	p.eventually("card "+strconv.Quote(text), func() (bool, string) {
		s := p.snapshot()
		for _, c := range s.Cards {
			if c.Text == text {
				id = c.ID
				return true, ""
			}
		}
		return false, s.String()
	})
	return id
}

func (p *page) vote(id, dir string) {
	p.t.Helper()
	before := p.snapshot().card(id).Votes
	p.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`li.card[data-id=%q] [data-action=%s]`, id, dir))))
	want := before + 1
	if dir == "down" {
		want = before - 1
	}
	p.eventually(fmt.Sprintf("votes %d", want), func() (bool, string) {
		c := p.snapshot().card(id)
		return c != nil && c.Votes == want, fmt.Sprint(c)
	})
}

func (p *page) tag(id, tag string) {
	p.t.Helper()
	p.do(chromedp.SendKeys(chromedp.CSS(fmt.Sprintf(`li.card[data-id=%q] .tag-input`, id)), tag+kb.Enter))
	p.eventually("tag "+tag, func() (bool, string) {
		c := p.snapshot().card(id)
		return c.hasTag(tag), fmt.Sprint(c)
	})
}

// setTitle types a new title and presses Enter, which commits it.
func (p *page) setTitle(title string) {
	p.t.Helper()
	p.do(clear("title"), chromedp.SendKeys(chromedp.ID("title"), title+kb.Enter))
	p.eventually("title "+strconv.Quote(title), func() (bool, string) {
		v := p.eval(`latticeDemo.client.get('demo/board/title')`)
		return v == strconv.Quote(title), v
	})
}

// setNote types a note and leaves the field, which commits it.
func (p *page) setNote(note string) {
	p.t.Helper()
	p.do(clear("notes"), chromedp.SendKeys(chromedp.ID("notes"), note),
		chromedp.Click(chromedp.ID("board-heading")))
	p.eventually("note "+strconv.Quote(note), func() (bool, string) {
		v := p.eval(`JSON.stringify(latticeDemo.client.get('demo/board/notes'))`)
		return strings.Contains(v, note), v
	})
}

// clear empties a form field, as selecting its text and deleting it would:
// no change event yet, that comes when the typing after it is committed.
func clear(id string) chromedp.Action[chromedp.Void] {
	return script(fmt.Sprintf(`document.getElementById(%q).value = ''`, id))
}

// script runs a JavaScript statement in the page.
func script(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool]("(() => { "+js+"; return true })()")(ctx, t)
		return err
	})
}

// eventually polls cond until it holds, failing the test after waitFor
// with cond's last detail and a screenshot of each page.
func eventually(t *testing.T, what string, cond func() (bool, string), pages ...*page) {
	t.Helper()
	err := testkit.Eventually(waitFor, func() error {
		if ok, detail := cond(); !ok {
			return errors.New(detail)
		}
		return nil
	})
	if err != nil {
		for _, p := range pages {
			p.shot("timeout")
		}
		t.Fatalf("%s: not true after %v; last seen:\n%v", what, waitFor, err)
	}
}

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
