package lattice

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"
)

// Options configures Open. The zero value is an in-memory replica with no
// nodes: it works, and never syncs.
type Options struct {
	// Dir is the directory of the local replica (Badger). It is created if
	// missing and holds the replica id, the objects, the pending deltas and
	// the cursor. One process at a time may use it (ErrInUse). Default "":
	// the replica lives in memory and is lost on Close.
	Dir string
	// URLs lists the nodes, separated by commas or spaces: ws:// or wss://
	// URLs of /v1/ws, or http:// and https:// node addresses, to which
	// /v1/ws is added when they have no path. Default "": never connect.
	URLs string
	// Token is sent as the hello message's token and as an
	// "Authorization: Bearer" header on the upgrade. Default "": none.
	Token string
	// CAFile is a PEM file of certificate authorities that wss:// servers
	// may chain to, instead of the system's. Default "": the system pool.
	CAFile string
	// CAPEM is the same as PEM bytes; both may be given.
	CAPEM []byte
	// RootCAs is the same as a pool (Go only; gomobile skips it).
	RootCAs *x509.CertPool
	// Offline starts the client offline, as SetOffline(true) would.
	Offline bool
	// BackoffInitialMillis is the delay before the first reconnect, doubled
	// after each failure up to BackoffMaxMillis; half of each delay is
	// random, so clients spread out after an outage. Defaults 250 and
	// 10,000.
	BackoffInitialMillis int64
	BackoffMaxMillis     int64
	// ConnectTimeoutMillis bounds dialing plus waiting for welcome.
	// Default 10,000.
	ConnectTimeoutMillis int64
	// PingIntervalMillis is how often the client pings; two intervals of
	// silence from the node count as a dead connection. Default 20,000.
	PingIntervalMillis int64
	// OnStatus hears every status change ("online", "connecting",
	// "offline"). Default nil.
	OnStatus StatusHandler
	// OnError hears errors from nodes and the connection. Default nil.
	OnError ErrorHandler
	// OnPresence hears the others' presence on subscribed keys. Default nil.
	OnPresence PresenceHandler
	// Logger receives debug logs (Go only). Default: discarded.
	Logger *slog.Logger
	// Binary speaks the compact binary form of the protocol (hello
	// "encoding":"binary2", docs/protocol.md "Compact binary form"):
	// several deltas per frame, each replica id once per session, the
	// cursor as what changed. Every node in URLs must list "binary2" in
	// its welcome's features; an older one refuses the hello (4002).
	// Default false: JSON.
	Binary bool
}

// settings is Options validated, with defaults filled in.
type settings struct {
	dir            string
	urls           []string
	token          string
	tls            *tls.Config
	offline        bool
	backoffInitial time.Duration
	backoffMax     time.Duration
	connectTimeout time.Duration
	pingInterval   time.Duration
	onStatus       StatusHandler
	onError        ErrorHandler
	onPresence     PresenceHandler
	log            *slog.Logger
	binary         bool
}

func (o *Options) settings() (*settings, error) {
	if o == nil {
		o = &Options{}
	}
	s := &settings{
		dir:            o.Dir,
		token:          o.Token,
		offline:        o.Offline,
		backoffInitial: millis(o.BackoffInitialMillis, 250),
		backoffMax:     millis(o.BackoffMaxMillis, 10_000),
		connectTimeout: millis(o.ConnectTimeoutMillis, 10_000),
		pingInterval:   millis(o.PingIntervalMillis, 20_000),
		onStatus:       o.OnStatus,
		onError:        o.OnError,
		onPresence:     o.OnPresence,
		log:            o.Logger,
		binary:         o.Binary,
	}
	if s.backoffMax < s.backoffInitial {
		s.backoffMax = s.backoffInitial
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for _, f := range strings.FieldsFunc(o.URLs, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
		u, err := NormalizeURL(f)
		if err != nil {
			return nil, err
		}
		s.urls = append(s.urls, u)
	}
	pool := o.RootCAs
	if o.CAFile != "" || len(o.CAPEM) > 0 {
		if pool == nil {
			pool = x509.NewCertPool()
		} else {
			pool = pool.Clone()
		}
		if o.CAFile != "" {
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("reading CAFile: %w", err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("CAFile %s holds no PEM certificate", o.CAFile)
			}
		}
		if len(o.CAPEM) > 0 && !pool.AppendCertsFromPEM(o.CAPEM) {
			return nil, errors.New("CAPEM holds no PEM certificate")
		}
	}
	s.tls = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return s, nil
}

func millis(v, def int64) time.Duration {
	if v <= 0 {
		v = def
	}
	return time.Duration(v) * time.Millisecond
}

// NormalizeURL turns a node address into the URL of its WebSocket
// endpoint: http becomes ws and https wss, and a URL without a path gets
// /v1/ws. ws:// and wss:// URLs with a path are kept as they are.
func NormalizeURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", fmt.Errorf("node URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	case "ws", "wss":
	default:
		return "", fmt.Errorf("node URL %q: want ws://, wss://, http:// or https://", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("node URL %q has no host", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/ws"
	}
	return u.String(), nil
}
