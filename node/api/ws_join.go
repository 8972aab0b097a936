package api

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/protocol"
	"github.com/lattice-sync/lattice/node/store"
)

// A client delta's way into the node: queued to the committer, and its error
// turned into a protocol error code.

// join runs one client delta on a goroutine of its own, at most
// MaxInFlight at once: when they are all busy the reader waits here.
func (c *wsConn) join(id uint64, key string, decode func() (*crdt.Object, error)) {
	if c.grant != nil && !c.grant.CanWrite(key) {
		c.forbidden(json.RawMessage(fmt.Sprint(id)), "the token may not write %q", key)
		return
	}
	select {
	case c.sem <- struct{}{}:
	case <-c.ctx.Done():
		return
	}
	c.deltas.Add(1)
	go func() {
		defer func() {
			<-c.sem
			c.deltas.Done()
		}()
		idJSON := json.RawMessage(fmt.Sprint(id))
		d, err := decode()
		if err != nil {
			c.replyError(idJSON, protocol.InvalidDelta, "%s", userMessage(err))
			return
		}
		if err := store.CheckKey(key); err != nil {
			c.replyError(idJSON, protocol.InvalidKey, "%s", userMessage(err))
			return
		}
		if !c.n.Ready() {
			c.replyError(idJSON, protocol.Unavailable, "the node is shutting down")
			return
		}
		if err := c.n.Store.JoinClient(c.ctx, c.replica, key, d); err != nil {
			code, msg := c.classify(err)
			c.replyError(idJSON, code, "%s", msg)
			return
		}
		c.reply(protocol.Ack, marshalWS(struct {
			T  string `json:"t"`
			ID uint64 `json:"id"`
		}{protocol.Ack, id}))
	}()
}

func (c *wsConn) classify(err error) (code, msg string) {
	switch {
	case errors.Is(err, store.ErrInvalidKey):
		return protocol.InvalidKey, userMessage(err)
	case errors.Is(err, crdt.ErrForgedDot):
		return protocol.ForgedDot, userMessage(err)
	case errors.Is(err, crdt.ErrOutOfRange):
		return protocol.OutOfRange, userMessage(err)
	case errors.Is(err, crdt.ErrUnseenDots):
		return protocol.UnseenDots, userMessage(err) + "; resend the delta later"
	case errors.Is(err, crdt.ErrWrongType):
		return protocol.WrongType, userMessage(err)
	case errors.Is(err, crdt.ErrInvalid), errors.Is(err, crdt.ErrLimit):
		return protocol.InvalidDelta, userMessage(err)
	case errors.Is(err, store.ErrClosed), !c.n.Ready():
		return protocol.Unavailable, "the node is shutting down"
	case c.ctx.Err() != nil:
		return protocol.Unavailable, "the connection is closing"
	}
	c.log.Error("websocket delta failed", "err", err)
	return protocol.Internal, "internal error; the delta may be resent"
}
