package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/lattice-sync/lattice/node"
	"github.com/lattice-sync/lattice/transport"
	"github.com/lattice-sync/lattice/web"
)

// nodeOptions is everything needed to run one node.
type nodeOptions struct {
	id           string
	clusterID    string
	data         string
	http         string
	gossip       string
	advertise    string
	advertHTTP   string // the URL the demo and peers show for this node
	join         string
	sync         bool
	admin        bool
	aeInterval   time.Duration
	syncFanout   int
	logRetention uint64
	foldAfter    time.Duration
	faultSeed    int64
	gossipKey    string // base64; decoded by startNode
	gossipLabel  string // memberlist's cluster label
	local        bool   // memberlist's local-network timings

	// Security (docs/security.md).
	dev           bool   // no auth: development only
	authKey       string // file: the token verification key (public or private PEM)
	tlsCert       string // files: serve HTTPS and WSS
	tlsKey        string
	encryptionKey string // file: Badger encryption at rest
	gossipKeyring string // file: base64 gossip keys, one a line, the first the primary
	maxConns      int    // WebSocket connections
	snapChunk     int    // bytes of object states in one snapshot page
}

func (o *nodeOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.id, "id", "", "node name, unique in the cluster (default: the hostname)")
	fs.StringVar(&o.clusterID, "cluster-id", "", "the cluster's name, the same on every node: clients remember it and refuse a node of another cluster; recorded in the data directory, which then refuses another (default: the one recorded there, else one derived from the gossip key, else none)")
	fs.StringVar(&o.data, "data", "./data", "data directory")
	fs.StringVar(&o.http, "http", ":8080", "HTTP and WebSocket listen address")
	fs.StringVar(&o.gossip, "gossip", ":7946", "memberlist bind address")
	fs.StringVar(&o.advertise, "advertise", "", "gossip address other nodes reach this one at (default: derived from --gossip)")
	fs.StringVar(&o.advertHTTP, "advertise-http", "", "URL at which people and the demo's panel reach this node's HTTP API, shown in /v1/cluster, when it differs from the listener's (a published container port, a proxy) (default: http://<listener or --advertise host>:<--http port>)")
	fs.StringVar(&o.join, "join", "", "comma-separated gossip addresses of nodes to join")
	fs.BoolVar(&o.sync, "sync", true, "sync every acknowledged write to disk (false trades durability on crash for speed)")
	fs.BoolVar(&o.admin, "admin", false, "enable the admin endpoints (fault injection)")
	fs.DurationVar(&o.aeInterval, "ae-interval", 2*time.Second, "anti-entropy interval")
	fs.IntVar(&o.syncFanout, "sync-fanout", 1, "peers asked in each anti-entropy round, picked at random (0: every reachable peer)")
	fs.Uint64Var(&o.logRetention, "log-retention", node.DefaultLogRetention, "log entries kept per origin; a peer that needs older ones gets the objects' state instead (state transfer)")
	fs.DurationVar(&o.foldAfter, "fold-after", 0, "fold root counters' writers idle longer than this into this node's fold replica, so retired clients stop costing a live entry (docs/crdt-cost.md; 0: off)")
	fs.Int64Var(&o.faultSeed, "fault-seed", 0, "seed of the fault-injecting transport (default: from the clock, logged)")
	fs.StringVar(&o.gossipKey, "gossip-key", "", "base64 of a 16, 24 or 32-byte key that encrypts gossip, the same on every node (default: none; prefer the environment to the command line)")
	fs.StringVar(&o.gossipLabel, "gossip-label", "", "cluster label: gossip with another label is dropped, so two clusters on one network cannot merge")
	fs.BoolVar(&o.dev, "dev", false, "development mode: no authentication, anyone who reaches the node may read and write (and, with --admin, partition it); never in production")
	fs.StringVar(&o.authKey, "auth-key", "", "PEM file of the Ed25519 key that verifies client tokens (the .pub file of lattice token --new-key); required unless --dev")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate (chain) file: serve HTTPS and WSS instead of HTTP and WS; needs --tls-key")
	fs.StringVar(&o.tlsKey, "tls-key", "", "PEM private key file of --tls-cert")
	fs.StringVar(&o.encryptionKey, "encryption-key-file", "", "file holding a 16, 24 or 32-byte key (raw, or base64) that encrypts the data directory at rest; the same key is needed to open it again")
	fs.StringVar(&o.gossipKeyring, "gossip-keyring", "", "file of base64 gossip keys, one a line, the first encrypting and all accepted; SIGHUP rereads it, to rotate keys without a restart (instead of --gossip-key; lattice gossip-key --gossip-keyring FILE makes one)")
	fs.IntVar(&o.maxConns, "max-conns", node.DefaultWSMaxConns, "most WebSocket connections this node serves at once; more are refused with 503")
	fs.IntVar(&o.snapChunk, "snapshot-chunk", node.DefaultWSSnapshotChunk, "about the most bytes of object states in one snapshot page; a larger object goes in resumable parts")
}

// devWarning is logged, loudly, by a node started with --dev.
const devWarning = "DEVELOPMENT MODE: authentication is OFF. Anyone who can reach this node can read and write every key" +
	" (and, with --admin, partition the cluster). Never expose it; run with --auth-key in production."

// security loads what the security flags name: the token verifier (nil
// with --dev) and the keys. It refuses a node without auth unless --dev.
func (o *nodeOptions) security() (auth *node.Authenticator, encKey []byte, gossipKeys [][]byte, err error) {
	switch {
	case o.dev && o.authKey != "":
		return nil, nil, nil, errors.New("--dev and --auth-key exclude each other: --dev turns auth off")
	case !o.dev && o.authKey == "":
		return nil, nil, nil, errors.New("no --auth-key (LATTICE_AUTH_KEY): a node verifies client tokens unless started with --dev (LATTICE_DEV=true), which runs without auth for development; see docs/security.md")
	case (o.tlsCert == "") != (o.tlsKey == ""):
		return nil, nil, nil, errors.New("--tls-cert and --tls-key go together")
	case o.gossipKey != "" && o.gossipKeyring != "":
		return nil, nil, nil, errors.New("--gossip-key and --gossip-keyring exclude each other: put the key in the keyring file")
	}
	if o.authKey != "" {
		if auth, err = node.LoadAuthenticator(o.authKey); err != nil {
			return nil, nil, nil, fmt.Errorf("--auth-key: %w", err)
		}
	}
	if o.tlsCert != "" {
		if _, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey); err != nil {
			return nil, nil, nil, fmt.Errorf("--tls-cert, --tls-key: %w", err)
		}
	}
	if o.encryptionKey != "" {
		if encKey, err = readKeyFile(o.encryptionKey); err != nil {
			return nil, nil, nil, fmt.Errorf("--encryption-key-file: %w", err)
		}
	}
	if o.gossipKeyring != "" {
		if gossipKeys, err = readKeyring(o.gossipKeyring); err != nil {
			return nil, nil, nil, fmt.Errorf("--gossip-keyring: %w", err)
		}
	} else if key, err := gossipKey(o.gossipKey); err != nil {
		return nil, nil, nil, err
	} else if key != nil {
		gossipKeys = [][]byte{key}
	}
	return auth, encKey, gossipKeys, nil
}

// readKeyFile reads a 16, 24 or 32-byte key, raw or in base64. The key
// never appears in an error.
func readKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if n := len(b); n == 16 || n == 24 || n == 32 {
		return b, nil
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%s is neither 16, 24 or 32 raw bytes nor base64", path)
	}
	if n := len(key); n != 16 && n != 24 && n != 32 {
		return nil, fmt.Errorf("%s holds a %d-byte key, want 16, 24 or 32", path, n)
	}
	return key, nil
}

// readKeyring reads a gossip keyring file: one base64 key a line, blank
// lines and lines starting with # ignored; the first key is the primary.
func readKeyring(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: not standard base64", path, i+1)
		}
		if n := len(key); n != 16 && n != 24 && n != 32 {
			return nil, fmt.Errorf("%s:%d: a %d-byte key, want 16, 24 or 32", path, i+1, n)
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s holds no key", path)
	}
	return keys, nil
}

// reloadKeyring rereads --gossip-keyring into the running memberlist
// (SIGHUP): see transport.Memberlist.SetKeys for the rotation's rounds.
func (r *running) reloadKeyring(path string, log *slog.Logger) {
	keys, err := readKeyring(path)
	if err == nil {
		err = r.ml.SetKeys(keys)
	}
	if err != nil {
		log.Error("gossip keyring not reloaded; the old keys stay", "file", path, "err", err)
		return
	}
	log.Info("gossip keyring reloaded", "file", path, "keys", len(keys))
}

// running is one started node and what it owns.
type running struct {
	node   *node.Node
	ml     *transport.Memberlist
	faults *transport.Faulty
	srv    *http.Server
	ln     net.Listener
}

// startNode starts a node; log is the process's logger, to which the
// node and its transport add their name themselves.
func startNode(o nodeOptions, log *slog.Logger) (*running, error) {
	nlog := log.With("node", o.id) // for the lines logged here
	auth, encKey, gossipKeys, err := o.security()
	if err != nil {
		return nil, err
	}
	if o.foldAfter < 0 {
		return nil, errors.New("--fold-after (LATTICE_FOLD_AFTER) must not be negative")
	}
	if o.logRetention == 0 {
		return nil, errors.New("--log-retention (LATTICE_LOG_RETENTION) must be at least 1")
	}
	if o.dev {
		nlog.Warn(devWarning)
	}
	var key []byte
	var moreKeys [][]byte
	if len(gossipKeys) > 0 {
		key, moreKeys = gossipKeys[0], gossipKeys[1:]
	}
	clusterID, err := settleClusterID(o.data, o.clusterID, keyClusterID(gossipKeys))
	if err != nil {
		return nil, err
	}
	cfg := node.DefaultConfig(o.id, o.data)
	cfg.ClusterID = clusterID
	cfg.SyncWrites = o.sync
	cfg.AntiEntropyInterval = o.aeInterval
	cfg.SyncFanout = o.syncFanout
	cfg.LogRetention = o.logRetention
	cfg.FoldAfter = o.foldAfter
	cfg.Logger = log
	cfg.EncryptionKey = encKey
	ln, err := net.Listen("tcp", o.http)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", o.http, err)
	}
	cfg.AdvertiseHTTP = httpURL(ln.Addr().String(), o.advertise)
	if o.tlsCert != "" {
		cfg.AdvertiseHTTP = "https" + strings.TrimPrefix(cfg.AdvertiseHTTP, "http")
	}
	if o.advertHTTP != "" {
		u, err := url.Parse(o.advertHTTP)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(o.advertHTTP) > transport.MaxMetaSize {
			ln.Close()
			return nil, fmt.Errorf("--advertise-http %q: want http://host:port or https://host:port", o.advertHTTP)
		}
		cfg.AdvertiseHTTP = strings.TrimRight(o.advertHTTP, "/")
	}
	n, err := node.Open(cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	bind := o.gossip
	if strings.HasPrefix(bind, ":") {
		bind = "0.0.0.0" + bind
	}
	ml, err := transport.NewMemberlist(transport.MemberlistConfig{
		Name: o.id, BindAddr: bind, AdvertiseAddr: o.advertise, Logger: log, Local: o.local,
		Meta: []byte(cfg.AdvertiseHTTP), SecretKey: key, Keys: moreKeys, Label: o.gossipLabel,
	})
	if err != nil {
		ln.Close()
		n.Close()
		return nil, err
	}
	seed := o.faultSeed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	f := transport.NewFaulty(ml, seed)
	nlog.Info("fault injection ready", "seed", seed, "admin", o.admin)
	if err := n.Attach(f); err != nil {
		ln.Close()
		ml.Close()
		n.Close()
		return nil, err
	}
	hopts := node.HTTPOptions{Admin: o.admin, Faults: f, Logger: nlog, UI: web.Handler(), Auth: auth}
	hopts.WS.MaxConns = o.maxConns
	hopts.WS.SnapshotChunk = o.snapChunk
	if o.admin {
		// The demo page served by one node polls and drives the others,
		// and its node picker connects tabs to them.
		hopts.WS.CheckOrigin = web.SameMachine
	}
	h := node.NewHTTPHandler(n, hopts)
	if o.admin {
		h = web.CORS(h)
	}
	srv := node.NewHTTPServer(h, slog.NewLogLogger(nlog.Handler(), slog.LevelDebug))
	go func() {
		var err error
		if o.tlsCert != "" {
			srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			err = srv.ServeTLS(ln, o.tlsCert, o.tlsKey)
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			nlog.Error("http server", "err", err)
		}
	}()
	if o.join != "" {
		go joinLoop(ml, strings.Split(o.join, ","), nlog)
	}
	return &running{node: n, ml: ml, faults: f, srv: srv, ln: ln}, nil
}

// gossipKey decodes --gossip-key. The key itself never appears in the error.
func gossipKey(b64 string) ([]byte, error) {
	if b64 == "" {
		return nil, nil
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return nil, errors.New("--gossip-key is not standard base64")
	}
	if n := len(key); n != 16 && n != 24 && n != 32 {
		return nil, fmt.Errorf("--gossip-key is %d bytes, want 16, 24 or 32", n)
	}
	return key, nil
}

// httpURL is the URL other nodes and the demo show for this node: the
// listener's address, with the advertised gossip host when the listener is
// on all interfaces.
func httpURL(listen, advertise string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
		if advertise != "" {
			if h, _, err := net.SplitHostPort(advertise); err == nil {
				host = h
			}
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}

// joinLoop keeps trying the seeds until this node has a peer: in a cluster
// started all at once the seeds may not be up yet, and a seed list that names
// this node too (one list for every node, as in docker-compose.yml) is
// answered by the node itself before anyone else is there.
func joinLoop(ml *transport.Memberlist, seeds []string, log *slog.Logger) {
	for delay := 200 * time.Millisecond; ; delay = min(delay*2, 5*time.Second) {
		n, err := ml.Join(seeds)
		switch {
		case errors.Is(err, transport.ErrClosed):
			return
		case err != nil:
			log.Warn("join failed, retrying", "seeds", seeds, "err", err, "in", delay)
		case len(ml.Peers()) > 0:
			log.Info("joined cluster", "seeds", seeds, "answered", n, "peers", len(ml.Peers()))
			return
		default:
			log.Info("no peer answered yet, retrying", "seeds", seeds, "in", delay)
		}
		time.Sleep(delay)
	}
}

// stop leaves the cluster, stops serving, and closes Badger cleanly.
func (r *running) stop(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
	if err := r.ml.Close(); err != nil {
		log.Warn("leaving cluster", "err", err)
	}
	if err := r.node.Close(); err != nil {
		log.Error("closing node", "err", err)
	}
}

func runServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var o nodeOptions
	o.register(fs)
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	format := fs.String("log-format", "json", "log format: json or text")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := newLogger(*level, *format)
	if err != nil {
		return err
	}
	if o.id == "" {
		if o.id, err = os.Hostname(); err != nil {
			return fmt.Errorf("no --id, and the hostname is unknown: %w", err)
		}
	}
	r, err := startNode(o, log)
	if err != nil {
		return err
	}
	log.Info("serving", "node", o.id, "cluster", r.node.Cluster().Cluster, "http", r.ln.Addr().String(), "tls", o.tlsCert != "", "auth", !o.dev,
		"gossip", r.ml.GossipAddr(), "gossip_keys", r.ml.KeyCount(), "encrypted_at_rest", o.encryptionKey != "", "replica", r.node.ID())
	if o.gossipKeyring != "" {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go func() {
			for range hup {
				r.reloadKeyring(o.gossipKeyring, log)
			}
		}()
	}
	waitForSignal()
	log.Info("shutting down")
	r.stop(log)
	return nil
}

func waitForSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	<-ch
	signal.Stop(ch)
}
