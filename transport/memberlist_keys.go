package transport

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/hashicorp/memberlist"
)

// Gossip encryption keys: rotating them on a running transport.

// ErrNoEncryption is SetKeys's error on a Memberlist started without a
// SecretKey: memberlist cannot turn encryption on in a running cluster.
var ErrNoEncryption = errors.New("transport: gossip encryption is off; it can only be turned on at start")

// SetKeys makes keys the gossip keyring: every one is accepted on incoming
// gossip, and keys[0] encrypts outgoing gossip; keys installed before and
// not listed are removed. It is how a running cluster rotates its key
// without a restart, in three rounds, each done on every node before the
// next starts (docs/security.md):
//
//  1. SetKeys(old, new): every node accepts new, all still send with old.
//  2. SetKeys(new, old): every node sends with new; old is still accepted
//     from nodes that have not switched yet.
//  3. SetKeys(new): old is no longer accepted.
//
// Skipping a round's "every node" splits the cluster: a node that sends
// with a key its peers do not hold is not heard.
func (m *Memberlist) SetKeys(keys [][]byte) error {
	if m.keyring == nil {
		return ErrNoEncryption
	}
	if len(keys) == 0 {
		return errors.New("transport: SetKeys needs at least one key")
	}
	for _, k := range keys {
		if err := memberlist.ValidateKey(k); err != nil {
			return fmt.Errorf("transport: SetKeys: %w", err)
		}
	}
	for _, k := range keys {
		if err := m.keyring.AddKey(k); err != nil {
			return fmt.Errorf("transport: SetKeys: %w", err)
		}
	}
	if err := m.keyring.UseKey(keys[0]); err != nil {
		return fmt.Errorf("transport: SetKeys: %w", err)
	}
	for _, old := range m.keyring.GetKeys() {
		if !slices.ContainsFunc(keys, func(k []byte) bool { return bytes.Equal(k, old) }) {
			if err := m.keyring.RemoveKey(old); err != nil {
				return fmt.Errorf("transport: SetKeys: %w", err)
			}
		}
	}
	return nil
}

// KeyCount reports how many gossip keys are installed (0 without
// encryption), for logs: the keys themselves are never logged.
func (m *Memberlist) KeyCount() int {
	if m.keyring == nil {
		return 0
	}
	return len(m.keyring.GetKeys())
}
