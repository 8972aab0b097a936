package api

import (
	"errors"
	"io"
	"net/http"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/protocol"
	"github.com/lattice-sync/lattice/node/store"
)

// The admin route that folds a counter writer (docs/api.md, "POST
// /v1/admin/fold"; docs/crdt-cost.md, "What is reclaimed, and what is
// not").

type foldRequest struct {
	Key     string `json:"key"`
	Replica string `json:"replica"`
}

type foldResponse struct {
	Key     string `json:"key"`
	Replica string `json:"replica"`
	// Fold is the fold replica the writer's share moved to: this node's.
	Fold string `json:"fold"`
}

func (a *httpAPI) postFold(w http.ResponseWriter, r *http.Request) error {
	if a.n.Fold == nil {
		return errorf(http.StatusNotImplemented, protocol.NotImplemented, "this node does not fold")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	var req foldRequest
	if err := decodeStrict(body, &req); err != nil {
		return err
	}
	id, err := parseLowerUUID(req.Replica)
	if err != nil {
		return errorf(http.StatusBadRequest, protocol.InvalidValue, "replica: %q is not a lowercase UUID", req.Replica)
	}
	if _, err := a.n.Fold(r.Context(), req.Key, id); err != nil {
		switch {
		case errors.Is(err, store.ErrNotDecider):
			return errorf(http.StatusConflict, protocol.NotDecider, "%s", err)
		case errors.Is(err, store.ErrFoldNotStable):
			return errorf(http.StatusServiceUnavailable, protocol.FoldNotStable, "%s", err)
		}
		return err
	}
	writeJSON(w, http.StatusOK, foldResponse{Key: req.Key, Replica: req.Replica, Fold: crdt.FoldReplica(a.n.Store.ID()).String()})
	return nil
}
