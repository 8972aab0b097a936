package lattice

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/lattice-sync/lattice/crdt"
)

// The write methods. Each applies one operation to the local replica with
// crdt.Apply, persists the new state and the delta (synced to disk) before
// it returns, fires change handlers, and queues the delta for the nodes.
// An operation of the wrong type for what this replica holds of the key,
// or a malformed one, returns an error wrapping crdt.ErrWrongType,
// crdt.ErrInvalidOp or crdt.ErrInvalid, and changes nothing.
//
// path names map fields from the root down, joined by "/"; "" acts on the
// key itself. value is one JSON scalar.

// Inc adds by to a counter (a PN-counter; by may be negative).
func (c *Client) Inc(key, path string, by int64) error {
	return c.ApplyOp(key, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: by, Path: splitPath(path)})
}

// Dec subtracts by from a counter.
func (c *Client) Dec(key, path string, by int64) error {
	return c.ApplyOp(key, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpDec, By: by, Path: splitPath(path)})
}

// Add puts value in an add-wins set.
func (c *Client) Add(key, path, value string) error {
	return c.valueOp(key, path, value, crdt.TypeORSet, crdt.OpAdd)
}

// Remove takes value out of a set: the adds of it this replica has seen.
func (c *Client) Remove(key, path, value string) error {
	return c.valueOp(key, path, value, crdt.TypeORSet, crdt.OpRemove)
}

// Set writes a last-writer-wins register.
func (c *Client) Set(key, path, value string) error {
	return c.valueOp(key, path, value, crdt.TypeLWW, crdt.OpSet)
}

// SetMV writes a multi-value register: concurrent writes are all kept.
func (c *Client) SetMV(key, path, value string) error {
	return c.valueOp(key, path, value, crdt.TypeMVRegister, crdt.OpSet)
}

// Enable turns an enable-wins flag on.
func (c *Client) Enable(key, path string) error {
	return c.ApplyOp(key, crdt.Op{Type: crdt.TypeEWFlag, Kind: crdt.OpEnable, Path: splitPath(path)})
}

// Disable turns a flag off (what this replica has seen of it).
func (c *Client) Disable(key, path string) error {
	return c.ApplyOp(key, crdt.Op{Type: crdt.TypeEWFlag, Kind: crdt.OpDisable, Path: splitPath(path)})
}

// InsertText inserts s into a collaborative text at index (Unicode code
// points).
func (c *Client) InsertText(key, path string, index int, s string) error {
	return c.ApplyOp(key, crdt.Op{Type: crdt.TypeText, Kind: crdt.OpInsert, Index: int64(index), Value: crdt.String(s), Path: splitPath(path)})
}

// DeleteText deletes count characters (code points) of a text from index.
func (c *Client) DeleteText(key, path string, index, count int) error {
	return c.ApplyOp(key, crdt.Op{Type: crdt.TypeText, Kind: crdt.OpDelete, Index: int64(index), Count: int64(count), Path: splitPath(path)})
}

// Text returns the text at key (path: the text field of a map), "" if
// there is none.
func (c *Client) Text(key, path string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	obj := c.objects[key]
	if obj == nil {
		return ""
	}
	return obj.Text(splitPath(path)...)
}

// Anchor returns a stable anchor for a cursor at index (code points) in a
// text, as JSON ([replica, seq], or null for the start): put it in a
// presence state, and read it back with AnchorIndex, since it follows
// others' edits where an index would not.
func (c *Client) Anchor(key, path string, index int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	obj := c.objects[key]
	if obj == nil || index <= 0 {
		return "null"
	}
	d := obj.TextAnchor(index, splitPath(path)...)
	if d == (crdt.Dot{}) {
		return "null"
	}
	b, _ := json.Marshal([]any{d.Replica.String(), d.Seq})
	return string(b)
}

// AnchorIndex returns where an anchor (from Anchor, maybe another
// client's) now is in a text, in code points; 0 for null or one not known.
func (c *Client) AnchorIndex(key, path, anchor string) int {
	var a []json.RawMessage
	if json.Unmarshal([]byte(anchor), &a) != nil || len(a) != 2 {
		return 0
	}
	var rs string
	var seq uint64
	if json.Unmarshal(a[0], &rs) != nil || json.Unmarshal(a[1], &seq) != nil {
		return 0
	}
	r, err := crdt.ParseReplicaID(rs)
	if err != nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	obj := c.objects[key]
	if obj == nil {
		return 0
	}
	return obj.AnchorIndex(crdt.Dot{Replica: r, Seq: seq}, splitPath(path)...)
}

// InsertItem inserts into the list at key (path: the list field of a map)
// the element value, JSON: a scalar, or an object of scalars for a map
// element (whose fields are lww registers), at index.
func (c *Client) InsertItem(key, path string, index int, value string) error {
	return c.Apply(key, fmt.Sprintf(`{"type":"list","op":"insert","path":%s,"index":%d,"value":%s}`, pathJSON(path), index, value))
}

// DeleteItems deletes count elements of a list from index.
func (c *Client) DeleteItems(key, path string, index, count int) error {
	return c.ApplyOp(key, crdt.Op{Type: crdt.TypeList, Kind: crdt.OpDelete, Index: int64(index), Count: int64(count), Path: splitPath(path)})
}

// MoveItem moves the element of a list at from so that it ends at index to.
func (c *Client) MoveItem(key, path string, from, to int) error {
	return c.ApplyOp(key, crdt.Op{Type: crdt.TypeList, Kind: crdt.OpMove, Index: int64(from), To: int64(to), Path: splitPath(path)})
}

func pathJSON(path string) string {
	b, _ := json.Marshal(append([]string{}, splitPath(path)...))
	return string(b)
}

// Delete removes the map field path names, whatever its type.
func (c *Client) Delete(key, path string) error {
	return c.ApplyOp(key, crdt.Op{Type: crdt.TypeORMap, Kind: crdt.OpDelete, Path: splitPath(path)})
}

// Apply performs an operation given in the JSON form of docs/crdt.md, such
// as {"type":"counter","op":"inc","by":1} or
// {"type":"lww","op":"set","path":["cards","c/1"],"value":"x"}.
func (c *Client) Apply(key, opJSON string) error {
	var op crdt.Op
	if err := json.Unmarshal([]byte(opJSON), &op); err != nil {
		return fmt.Errorf("op %s: %w", opJSON, err)
	}
	return c.ApplyOp(key, op)
}

func (c *Client) valueOp(key, path, value string, t crdt.Type, k crdt.OpKind) error {
	var v crdt.Value
	if err := v.UnmarshalJSON([]byte(value)); err != nil {
		return fmt.Errorf("value %q is not a JSON scalar (JSONString quotes a string): %w", value, err)
	}
	return c.ApplyOp(key, crdt.Op{Type: t, Kind: k, Value: v, Path: splitPath(path)})
}

// ApplyOp performs op on key (Go only: gomobile skips it).
func (c *Client) ApplyOp(key string, op crdt.Op) error {
	if key == "" || len(key) > 1024 {
		return fmt.Errorf("%w: key must be 1 to 1024 bytes", crdt.ErrInvalid)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	obj := c.objects[key]
	var prev *crdt.Object
	if obj == nil {
		obj = crdt.NewObject()
	} else {
		prev = obj.Clone() // to undo, should the write to disk fail
	}
	before := valueJSON(c.objects[key])
	snap := takeSnapshot(obj)
	clock := c.clock
	delta, err := obj.Apply(c.replica, clock.Now(time.Now().UnixMilli()), op)
	if err != nil {
		return fmt.Errorf("%s %s on %q: %w", op.Type, op.Kind, key, err)
	}
	savedPending, savedNext := c.pending, c.nextID
	var b batch
	c.queueLocked(key, delta, &b)
	b.object(key, obj)
	oldClock := c.clock
	c.clock = clock
	b.state = c.stateLocked()
	// Durable before anything can send it: a delta sent but lost here
	// would let this replica mint its dot again, with other content.
	if err := c.store.write(&b, true); err != nil {
		c.pending, c.nextID, c.clock = savedPending, savedNext, oldClock
		if prev != nil {
			c.objects[key] = prev
		}
		return err
	}
	c.objects[key] = obj
	c.changedLocked(key, obj, before, snap, true)
	if c.conn != nil {
		c.conn.kick()
	}
	c.broadcastLocked()
	return nil
}

// changedLocked posts change events for key if its plain value changed.
// snap, taken before the change, lets TextChangeHandlers and
// ListChangeHandlers hear what happened to each text and list as positions.
func (c *Client) changedLocked(key string, obj *crdt.Object, before string, snap snapshot, local bool) {
	after := valueJSON(obj)
	if after == before {
		return
	}
	var text, list string
	if changes := snap.texts.Changes(obj); len(changes) > 0 {
		b, _ := json.Marshal(changes)
		text = string(b)
	}
	if changes := snap.lists.Changes(obj); len(changes) > 0 {
		b, _ := json.Marshal(changes)
		list = string(b)
	}
	for _, s := range c.watchersLocked(key) {
		c.events.post(func() { s.deliver(key, after, text, list, local) })
	}
}

// snapshot is an object's texts and lists before a change, for the change
// events that say what the change did to them as positions.
type snapshot struct {
	texts crdt.TextSnapshot
	lists crdt.ListSnapshot
}

func takeSnapshot(obj *crdt.Object) snapshot {
	return snapshot{texts: crdt.SnapshotTexts(obj), lists: crdt.SnapshotLists(obj)}
}

// splitPath turns "a/b" into the map fields ["a", "b"]; "" is no path.
func splitPath(path string) []string {
	if path == "" {
		return nil
	}
	return strings.Split(path, "/")
}

// JSONString returns s as a JSON string, the form value arguments take.
func JSONString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
