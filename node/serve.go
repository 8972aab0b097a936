package node

import (
	"net/http"

	"github.com/lattice-sync/lattice/node/api"
)

// The client API is node/api's; these are its names for the node's
// callers (cmd/lattice, the bench, the Go client's tests), which open a
// Node and serve it.

type (
	HTTPOptions     = api.HTTPOptions
	WSOptions       = api.WSOptions
	WSHandler       = api.WSHandler
	Authenticator   = api.Authenticator
	Claims          = api.Claims
	Grant           = api.Grant
	FaultController = api.FaultController
	Presence        = api.Presence
	ClusterInfo     = api.ClusterInfo
)

// Defaults of the client API (node/api says why each is what it is).
const (
	DefaultMaxBodyBytes    = api.DefaultMaxBodyBytes
	DefaultWSMaxFrame      = api.DefaultWSMaxFrame
	DefaultWSMaxSubs       = api.DefaultWSMaxSubs
	DefaultWSRate          = api.DefaultWSRate
	DefaultWSBurst         = api.DefaultWSBurst
	DefaultWSMaxInFlight   = api.DefaultWSMaxInFlight
	DefaultWSSendQueue     = api.DefaultWSSendQueue
	DefaultWSSnapshotChunk = api.DefaultWSSnapshotChunk
	DefaultWSWriteTimeout  = api.DefaultWSWriteTimeout
	DefaultWSIdleTimeout   = api.DefaultWSIdleTimeout
	DefaultWSPingInterval  = api.DefaultWSPingInterval
	DefaultWSMaxConns      = api.DefaultWSMaxConns
)

// Auth: tokens, keys and the authenticator (node/api/auth.go).
var (
	NewAuthenticator  = api.NewAuthenticator
	LoadAuthenticator = api.LoadAuthenticator
	MintToken         = api.MintToken
	NewAuthKey        = api.NewAuthKey
	ParseAuthKey      = api.ParseAuthKey
	NewHTTPServer     = api.NewHTTPServer
)

// NewHTTPHandler returns n's HTTP API, the WebSocket endpoint among it
// (api.NewHTTPHandler).
func NewHTTPHandler(n *Node, opts HTTPOptions) http.Handler {
	return api.NewHTTPHandler(n.backend(), opts)
}

// NewWSHandler returns n's WebSocket endpoint on its own
// (api.NewWSHandler).
func NewWSHandler(n *Node, opts WSOptions) *WSHandler {
	return api.NewWSHandler(n.backend(), opts)
}
