package lattice

import (
	"fmt"
	"strings"
	"sync/atomic"
)

// A subscription target is "k:" + key or "p:" + prefix: what one sub
// message asks a node for.
func keyTarget(key string) string       { return "k:" + key }
func prefixTarget(prefix string) string { return "p:" + prefix }

func targetMatches(target, key string) bool {
	if strings.HasPrefix(target, "p:") {
		return strings.HasPrefix(key, target[2:])
	}
	return target[2:] == key
}

// subEntry is one target the client keeps in sync, however many
// Subscriptions share it.
type subEntry struct {
	target string
	users  []*Subscription
}

// Subscription keeps a key, or every key under a prefix, in sync with the
// nodes, and calls its handler when a value under it changes. Close it
// when done.
type Subscription struct {
	c       *Client
	target  string
	h       ChangeHandler
	stopped atomic.Bool
}

// Subscribe keeps key in sync with every node the client connects to and
// calls h (which may be nil) whenever key's value changes, locally or
// remotely.
func (c *Client) Subscribe(key string, h ChangeHandler) (*Subscription, error) {
	if key == "" || len(key) > 1024 {
		return nil, fmt.Errorf("subscribe: key must be 1 to 1024 bytes")
	}
	return c.subscribe(keyTarget(key), h)
}

// SubscribePrefix is Subscribe for every key that starts with prefix ("" is
// every key).
func (c *Client) SubscribePrefix(prefix string, h ChangeHandler) (*Subscription, error) {
	if len(prefix) > 1024 {
		return nil, fmt.Errorf("subscribe: prefix must be at most 1024 bytes")
	}
	return c.subscribe(prefixTarget(prefix), h)
}

func (c *Client) subscribe(target string, h ChangeHandler) (*Subscription, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	s := &Subscription{c: c, target: target, h: h}
	e := c.subs[target]
	if e == nil {
		e = &subEntry{target: target}
		c.subs[target] = e
		if c.conn != nil {
			c.conn.kick() // the writer sends sub for targets its connection lacks
		}
	}
	e.users = append(e.users, s)
	c.broadcastLocked()
	return s, nil
}

// Close stops the subscription's handler and, if no other Subscription
// shares its key or prefix, stops syncing it.
func (s *Subscription) Close() {
	if s.stopped.Swap(true) {
		return
	}
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.subs[s.target]
	if e == nil {
		return
	}
	for i, u := range e.users {
		if u == s {
			e.users = append(e.users[:i:i], e.users[i+1:]...)
			break
		}
	}
	if len(e.users) > 0 {
		return
	}
	delete(c.subs, s.target)
	delete(c.resume, s.target)
	// Changes made while unsubscribed are not in what the cursor covers:
	// a later subscription must start from a snapshot.
	if c.synced[s.target] {
		delete(c.synced, s.target)
		if !c.closed {
			if err := c.store.write(&batch{state: c.stateLocked()}, false); err != nil {
				c.reportLocked("store", err.Error(), "")
			}
		}
	}
	if c.conn != nil {
		c.conn.unsubLocked(s.target)
	}
	c.broadcastLocked()
}

func (s *Subscription) deliver(key, value, text, list string, local bool) {
	if s.h == nil || s.stopped.Load() {
		return
	}
	s.h.OnChange(key, value, local)
	if th, ok := s.h.(TextChangeHandler); ok && text != "" {
		th.OnTextChange(key, text, local)
	}
	if lh, ok := s.h.(ListChangeHandler); ok && list != "" {
		lh.OnListChange(key, list, local)
	}
}

// watchersLocked lists the subscriptions whose target covers key.
func (c *Client) watchersLocked(key string) []*Subscription {
	var out []*Subscription
	for _, e := range c.subs {
		if targetMatches(e.target, key) {
			out = append(out, e.users...)
		}
	}
	return out
}
