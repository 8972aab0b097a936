package api

import (
	"io"
	"net/http"
	"strings"

	"github.com/lattice-sync/lattice/internal/protocol"
	"github.com/lattice-sync/lattice/transport"
)

// The admin routes that read and set the fault-injecting transport's faults.

// FaultController is what the admin endpoints need of a fault-injecting
// transport; *transport.Faulty is one. Its methods must be safe for
// concurrent use: every request calls them on its own goroutine.
type FaultController interface {
	Faults() transport.Faults
	SetFaults(transport.Faults) error
	Stats() transport.FaultyStats
}

var _ FaultController = (*transport.Faulty)(nil)

type faultsResponse struct {
	Faults transport.Faults      `json:"faults"`
	Stats  transport.FaultyStats `json:"stats"`
}

func (a *httpAPI) writeFaults(w http.ResponseWriter) {
	fs := a.opts.Faults.Faults()
	if fs.Cut == nil {
		fs.Cut = []string{} // always a list, so clients need not test for null
	}
	writeJSON(w, http.StatusOK, faultsResponse{Faults: fs, Stats: a.opts.Faults.Stats()})
}

func (a *httpAPI) getFaults(w http.ResponseWriter, r *http.Request) error {
	a.writeFaults(w)
	return nil
}

func (a *httpAPI) putFaults(w http.ResponseWriter, r *http.Request) error {
	var fs transport.Faults
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if body, err = durationsAsNanos(body); err != nil {
		return err
	}
	if err := decodeStrict(body, &fs); err != nil {
		return err
	}
	if err := fs.Validate(); err != nil {
		// errors.Join puts one field per line; keep the message on one.
		return errorf(http.StatusBadRequest, protocol.InvalidFaults, "%s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	if err := a.checkCut(fs.Cut); err != nil {
		return err
	}
	return a.setFaults(w, fs)
}

func (a *httpAPI) heal(w http.ResponseWriter, r *http.Request) error {
	return a.setFaults(w, transport.Faults{})
}

func (a *httpAPI) setFaults(w http.ResponseWriter, fs transport.Faults) error {
	if err := a.opts.Faults.SetFaults(fs); err != nil {
		return err
	}
	a.log.Info("faults set", "faults", fs)
	a.writeFaults(w)
	return nil
}
