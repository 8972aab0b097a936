package web_test

// TestBrowserCollaboration is the demo's end-to-end claim, in a real
// browser against a real three-node cluster: two tabs on two different
// nodes edit one board, one of them goes offline and keeps editing while
// the other edits the same cards, and once it is back both tabs show the
// same board and hold byte-identical canonical states. Then the tabs type
// into one card's text at the same place on both sides of a partition:
// after healing both show the same text with both runs whole, and each
// shows where the other's caret is.
//
// It needs chromium (apt install chromium) and skips without it, except
// under CI=true, where a missing browser is a failure. Screenshots of every
// step go to $LATTICE_ARTIFACTS (default <repo>/artifacts/browser).

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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

	// A's caret in the card's text shows on B, beside that card.
	a.do(script(fmt.Sprintf(`(() => { const el = document.querySelector('li.card[data-id=%q] textarea'); el.focus(); el.setSelectionRange(5, 5); })()`, card)))
	b.eventually("A's caret shown beside the card", func() (bool, string) {
		v := b.eval(fmt.Sprintf(`[...document.querySelectorAll('li.card[data-id=%q] .cursor-chip')].map((c) => c.dataset.at).join()`, card))
		return v == `"5"`, v
	})
	b.shot("02-caret-of-A")
	a.do(script(`document.activeElement.blur()`))

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
	if len(s.Notes) != 1 || !strings.Contains(s.Notes[0], "Note written offline on A") || !strings.Contains(s.Notes[0], "Note written online on B") {
		t.Errorf("the note typed concurrently on both tabs is %q, want both runs whole (a collaborative text)", s.Notes)
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
	// Both type at the end of the card's text, key by key.
	a.typeInCard(card, " + typed on A's side")
	b.typeInCard(card, " + typed on B's side")
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
	eventually(t, "both tabs show the card's text with both runs whole", func() (bool, string) {
		ta, tb := a.snapshot().card(card).Text, b.snapshot().card(card).Text
		ok := ta == tb && strings.HasPrefix(ta, "Write the browser test") &&
			strings.Contains(ta, " + typed on A's side") && strings.Contains(ta, " + typed on B's side")
		return ok, fmt.Sprintf("A %q, B %q", ta, tb)
	}, a, b)
	t.Logf("card text after healing: %q", a.snapshot().card(card).Text)
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
