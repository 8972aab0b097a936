package lattice

// adoptCursorLocked keeps cursor, from a message that arrived on cn, as
// the resume cursor if it may speak for every subscription it will resume
// (docs/protocol.md, "Which cursor to keep"): each target the stored
// cursor covers, and that is still subscribed, must have been answered on
// cn (by its catch-up or its snapshot's last chunk, and not resynced
// since). The cursor then covers exactly the targets answered on cn.
// Targets no longer subscribed drop out: what changed under them while
// unsubscribed is not in any later cursor.
func (c *Client) adoptCursorLocked(cn *conn, cursor map[string]uint64, b *batch) {
	if cursor == nil {
		return
	}
	for t := range c.synced {
		if c.subs[t] != nil && !cn.answered[t] {
			return
		}
	}
	c.cursor = cursor
	synced := map[string]bool{}
	for t, ok := range cn.answered {
		if ok && c.subs[t] != nil {
			synced[t] = true
		}
	}
	c.synced = synced
	b.state = c.stateLocked()
}
