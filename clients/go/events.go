package lattice

import "sync"

// ChangeHandler hears that key's plain value changed. value is the new
// value as JSON; local is true for this client's own edits and false for
// changes that came from a node.
type ChangeHandler interface {
	OnChange(key, value string, local bool)
}

// TextChangeHandler is an optional extension of ChangeHandler for editors:
// after OnChange, a handler that has it hears what happened to the key's
// collaborative texts, as a JSON array of crdt.TextChange
// ([{"path":["note"],"edits":[{"index":3,"delete":1,"insert":"ab","index16":3,"delete16":1}]}]):
// applying each text's edits in order to the text as it was gives the text
// now. Indices count code points; index16 and delete16 count UTF-16 units.
type TextChangeHandler interface {
	OnTextChange(key, changes string, local bool)
}

// ListChangeHandler is an optional extension of ChangeHandler for apps
// that keep a list in an array: after OnChange (and OnTextChange), a
// handler that has it hears what happened to the key's lists, as a JSON
// array of crdt.ListChange
// ([{"path":["todo"],"edits":[{"op":"move","from":0,"to":3},{"op":"insert","index":1,"value":"x"}]}]):
// applying each list's edits in order (insert value at index, delete count
// at index, move from to, set index to value) to the list as it was gives
// the list now.
type ListChangeHandler interface {
	OnListChange(key, changes string, local bool)
}

// StatusHandler hears the client's new status: "online" (a node welcomed
// it), "connecting" or "offline".
type StatusHandler interface {
	OnStatus(status string)
}

// ErrorHandler hears what went wrong: code is a protocol error code or
// close reason of docs/protocol.md ("wrong_type", "forged_dot",
// "unauthorized", ...) or one of the client's own ("connect", "store",
// "bad_message"); key names the key of a refused delta, if any.
type ErrorHandler interface {
	OnError(code, message, key string)
}

// ChangeFunc adapts a function to ChangeHandler (Go only).
type ChangeFunc func(key, value string, local bool)

// OnChange implements ChangeHandler.
func (f ChangeFunc) OnChange(key, value string, local bool) { f(key, value, local) }

// dispatcher runs handlers on one goroutine, in the order events happened,
// so app code never runs under the client's lock nor on its network
// goroutines, and a slow handler delays only other handlers.
type dispatcher struct {
	mu      sync.Mutex
	cond    *sync.Cond
	queue   []func()
	stopped bool
	done    chan struct{}
}

func newDispatcher() *dispatcher {
	d := &dispatcher{done: make(chan struct{})}
	d.cond = sync.NewCond(&d.mu)
	go d.run()
	return d
}

func (d *dispatcher) post(fn func()) {
	d.mu.Lock()
	if !d.stopped {
		d.queue = append(d.queue, fn)
		d.cond.Signal()
	}
	d.mu.Unlock()
}

func (d *dispatcher) run() {
	defer close(d.done)
	for {
		d.mu.Lock()
		for len(d.queue) == 0 && !d.stopped {
			d.cond.Wait()
		}
		if len(d.queue) == 0 {
			d.mu.Unlock()
			return
		}
		fn := d.queue[0]
		d.queue[0] = nil
		d.queue = d.queue[1:]
		d.mu.Unlock()
		fn()
	}
}

// stop lets the queued events run, then ends the goroutine. It does not
// wait, so a handler may call Close.
func (d *dispatcher) stop() {
	d.mu.Lock()
	d.stopped = true
	d.cond.Signal()
	d.mu.Unlock()
}
