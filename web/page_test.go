package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/lattice-sync/lattice/internal/testkit"
)

// A browser tab of the demo, driven through chromedp: what the test does in it
// and reads back.

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

// setNote types a note at the end of the shared note and leaves the field.
func (p *page) setNote(note string) {
	p.t.Helper()
	p.do(script(`(() => { const el = document.getElementById('note'); el.focus(); el.setSelectionRange(el.value.length, el.value.length); })()`),
		chromedp.SendKeys(chromedp.ID("note"), note),
		chromedp.Click(chromedp.ID("board-heading")))
	p.eventually("note "+strconv.Quote(note), func() (bool, string) {
		v := p.eval(`JSON.stringify(latticeDemo.client.get('demo/board/note'))`)
		return strings.Contains(v, note), v
	})
}

// typeInCard types text at the end of a card's text, key by key, as a
// person does: each key is an insert of its own.
func (p *page) typeInCard(id, text string) {
	p.t.Helper()
	sel := fmt.Sprintf(`li.card[data-id=%q] textarea`, id)
	p.do(script(fmt.Sprintf(`(() => { const el = document.querySelector(%q); el.focus(); el.setSelectionRange(el.value.length, el.value.length); })()`, sel)),
		chromedp.SendKeys(chromedp.CSS(sel), text))
	p.eventually("typed "+strconv.Quote(text), func() (bool, string) {
		c := p.snapshot().card(id)
		return c != nil && strings.HasSuffix(c.Text, text), fmt.Sprint(c)
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
