package store

import (
	"encoding/binary"

	"github.com/lattice-sync/lattice/crdt"
)

// Badger key layout. Each object is spread over one key per leaf and one
// per dot, so that joining a delta reads and writes only what it touches.
//
//	i                                  this node's replica id
//	m <key>                            object meta head (types, context entry count); lists the objects
//	c <len(key)> <key> <replica>       one replica's causal context entry (meta.go)
//	o <len(key)> <key> <leafkey>       a leaf's entries; a counter's tally (counter.go)
//	w <len(key)> <key> <len(leafkey)> <leafkey> <replica>
//	                                   one writer's entries of a counter leaf
//	d <len(key)> <key> <replica> <seq> the leaf key holding a dot
//	l <origin> <seq>                   a delta log entry: a one-item crdt.Batch
//	f <origin>                         log floor: entries at or below it may be absent
const (
	pfxMeta  = 'm'
	pfxLeaf  = 'o'
	pfxDot   = 'd'
	pfxLog   = 'l'
	pfxFloor = 'f'
)

var keyIdentity = []byte("i")

func metaKey(key string) []byte { return append([]byte{pfxMeta}, key...) }

func objPrefix(p byte, key string) []byte {
	b := binary.AppendUvarint([]byte{p}, uint64(len(key)))
	return append(b, key...)
}

func dotKey(prefix []byte, d crdt.Dot) []byte {
	b := append(append([]byte(nil), prefix...), d.Replica[:]...)
	return binary.BigEndian.AppendUint64(b, d.Seq)
}

func logKey(origin crdt.ReplicaID, seq uint64) []byte {
	b := append([]byte{pfxLog}, origin[:]...)
	return binary.BigEndian.AppendUint64(b, seq)
}

func floorKey(origin crdt.ReplicaID) []byte { return append([]byte{pfxFloor}, origin[:]...) }
