package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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
	id          string
	data        string
	http        string
	gossip      string
	advertise   string
	join        string
	sync        bool
	admin       bool
	aeInterval  time.Duration
	faultSeed   int64
	gossipKey   string // base64; decoded by startNode
	gossipLabel string // memberlist's cluster label
	local       bool   // memberlist's local-network timings
}

func (o *nodeOptions) register(fs *flag.FlagSet) {
	host, _ := os.Hostname()
	fs.StringVar(&o.id, "id", host, "node name, unique in the cluster (default: the hostname)")
	fs.StringVar(&o.data, "data", "./data", "data directory")
	fs.StringVar(&o.http, "http", ":8080", "HTTP and WebSocket listen address")
	fs.StringVar(&o.gossip, "gossip", ":7946", "memberlist bind address")
	fs.StringVar(&o.advertise, "advertise", "", "gossip address other nodes reach this one at (default: derived from --gossip)")
	fs.StringVar(&o.join, "join", "", "comma-separated gossip addresses of nodes to join")
	fs.BoolVar(&o.sync, "sync", true, "sync every acknowledged write to disk (false trades durability on crash for speed)")
	fs.BoolVar(&o.admin, "admin", false, "enable the admin endpoints (fault injection)")
	fs.DurationVar(&o.aeInterval, "ae-interval", 2*time.Second, "anti-entropy interval")
	fs.Int64Var(&o.faultSeed, "fault-seed", 0, "seed of the fault-injecting transport (default: from the clock, logged)")
	fs.StringVar(&o.gossipKey, "gossip-key", "", "base64 of a 16, 24 or 32-byte key that encrypts gossip, the same on every node (default: none; prefer the environment to the command line)")
	fs.StringVar(&o.gossipLabel, "gossip-label", "", "cluster label: gossip with another label is dropped, so two clusters on one network cannot merge")
}

// running is one started node and what it owns.
type running struct {
	node   *node.Node
	ml     *transport.Memberlist
	faults *transport.Faulty
	srv    *http.Server
	ln     net.Listener
}

func startNode(o nodeOptions, log *slog.Logger) (*running, error) {
	key, err := gossipKey(o.gossipKey)
	if err != nil {
		return nil, err
	}
	cfg := node.DefaultConfig(o.id, o.data)
	cfg.SyncWrites = o.sync
	cfg.AntiEntropyInterval = o.aeInterval
	cfg.Logger = log
	ln, err := net.Listen("tcp", o.http)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", o.http, err)
	}
	cfg.AdvertiseHTTP = httpURL(ln.Addr().String(), o.advertise)
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
		Meta: []byte(cfg.AdvertiseHTTP), SecretKey: key, Label: o.gossipLabel,
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
	log.Info("fault injection ready", "seed", seed, "admin", o.admin)
	if err := n.Attach(f); err != nil {
		ln.Close()
		ml.Close()
		n.Close()
		return nil, err
	}
	hopts := node.HTTPOptions{Admin: o.admin, Faults: f, Logger: log, UI: web.Handler()}
	if o.admin {
		// The demo page served by one node polls and drives the others,
		// and its node picker connects tabs to them.
		hopts.WS.CheckOrigin = web.SameMachine
	}
	h := node.NewHTTPHandler(n, hopts)
	if o.admin {
		h = web.CORS(h)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "err", err)
		}
	}()
	if o.join != "" {
		go joinLoop(ml, strings.Split(o.join, ","), log)
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
	r, err := startNode(o, log)
	if err != nil {
		return err
	}
	log.Info("serving", "node", o.id, "http", r.ln.Addr().String(), "gossip", r.ml.GossipAddr(), "replica", r.node.ID())
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
