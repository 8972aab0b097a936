package api

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/protocol"
	"github.com/lattice-sync/lattice/node/store"
)

// The object routes: read an object, apply an op to it, and the digest.

// objectResponse is what both object routes answer.
type objectResponse struct {
	Key   string    `json:"key"`
	Type  crdt.Type `json:"type"`
	Value any       `json:"value"`
}

func (a *httpAPI) getObject(w http.ResponseWriter, r *http.Request) error {
	key := r.PathValue("key")
	o, err := a.n.Store.Get(key)
	if err != nil {
		return err
	}
	if o.Type() == 0 {
		return errorf(http.StatusNotFound, protocol.NotFound, "object %q has never been written", key)
	}
	writeJSON(w, http.StatusOK, objectResponse{Key: key, Type: o.Type(), Value: o.Value()})
	return nil
}

// opBody mirrors crdt.Op's JSON form, field for field, so that unknown
// fields are refused and type and op get errors of their own; crdt.Op's
// decoder then reads the same bytes.
type opBody struct {
	Type  json.RawMessage `json:"type"`
	Op    json.RawMessage `json:"op"`
	Path  json.RawMessage `json:"path"`
	Value json.RawMessage `json:"value"`
	By    json.RawMessage `json:"by"`
	Index json.RawMessage `json:"index"`
	Count json.RawMessage `json:"count"`
	From  json.RawMessage `json:"from"`
	To    json.RawMessage `json:"to"`
}

// decodeOp reads an operation, checking what crdt.Op's decoder folds into
// one error (ErrInvalid) first, so each mistake gets its own code.
func decodeOp(body []byte) (crdt.Op, error) {
	var b opBody
	if err := decodeStrict(body, &b); err != nil {
		return crdt.Op{}, err
	}
	var typ, opName string
	if b.Type == nil || json.Unmarshal(b.Type, &typ) != nil {
		return crdt.Op{}, errorf(http.StatusBadRequest, protocol.UnknownType, `"type" must be a type name such as "counter"`)
	}
	if _, err := crdt.ParseType(typ); err != nil {
		return crdt.Op{}, errorf(http.StatusBadRequest, protocol.UnknownType, "unknown type %q", typ)
	}
	if b.Op == nil || json.Unmarshal(b.Op, &opName) != nil {
		return crdt.Op{}, errorf(http.StatusBadRequest, protocol.UnknownOp, `"op" must be an operation name such as "inc"`)
	}
	kind, err := crdt.ParseOpKind(opName)
	if err != nil {
		return crdt.Op{}, errorf(http.StatusBadRequest, protocol.UnknownOp, "unknown op %q", opName)
	}
	// crdt.Op ignores fields its op does not use; a client that sends
	// {"op":"inc","value":5} means something, so say it is not done.
	takesValue := kind == crdt.OpAdd || kind == crdt.OpRemove || kind == crdt.OpSet || kind == crdt.OpInsert
	takesBy := kind == crdt.OpInc || kind == crdt.OpDec
	positional := typ == "text" || typ == "list"
	if b.Index != nil && (!positional || kind == crdt.OpMove) {
		return crdt.Op{}, errorf(http.StatusBadRequest, protocol.UnknownField, `%s %s takes no "index"`, typ, kind)
	}
	if b.Count != nil && (!positional || kind != crdt.OpDelete) {
		return crdt.Op{}, errorf(http.StatusBadRequest, protocol.UnknownField, `%s %s takes no "count"`, typ, kind)
	}
	if (b.From != nil || b.To != nil) && (typ != "list" || kind != crdt.OpMove) {
		return crdt.Op{}, errorf(http.StatusBadRequest, protocol.UnknownField, `%s %s takes no "from" or "to"`, typ, kind)
	}
	if b.Value != nil && !takesValue {
		return crdt.Op{}, errorf(http.StatusBadRequest, protocol.UnknownField, `%s takes no "value"`, kind)
	}
	if b.By != nil && !takesBy {
		return crdt.Op{}, errorf(http.StatusBadRequest, protocol.UnknownField, `%s takes no "by"`, kind)
	}
	var op crdt.Op
	if err := json.Unmarshal(body, &op); err != nil {
		return crdt.Op{}, err // a crdt sentinel, classified by writeError
	}
	return op, nil
}

// postObject applies one operation and answers with the object's new
// value once the write is durable: for counters, registers and flags the
// value the commit itself wrote, for sets and maps a read after it.
func (a *httpAPI) postObject(w http.ResponseWriter, r *http.Request) error {
	key := r.PathValue("key")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	op, err := decodeOp(body)
	if err != nil {
		return err
	}
	if !a.n.Ready() {
		// Apply on a closed node may find the committer gone; refuse first.
		return store.ErrClosed
	}
	ans, err := a.n.Store.ApplyAndRead(r.Context(), key, op)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, objectResponse{Key: key, Type: ans.Type, Value: ans.Value})
	return nil
}

func (a *httpAPI) getDigest(w http.ResponseWriter, r *http.Request) error {
	vv := a.n.Store.VersionVector()
	d, count, err := a.n.Store.Digest()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Digest  string            `json:"digest"`
		Objects int               `json:"objects"`
		VV      map[string]uint64 `json:"vv"`
	}{d, count, store.VVJSON(vv)})
	return nil
}
