package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lattice-sync/lattice/node"
)

func runDemo(args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	dir := fs.String("data", filepath.Join(os.TempDir(), "lattice-demo"), "directory for the three nodes' data; a later run goes on with it")
	fresh := fs.Bool("fresh", false, "delete --data first: start an empty cluster (a new cluster id, so client replicas of the old one refuse it)")
	port := fs.Int("port", 8080, "HTTP port of the first node; the others take the next two")
	gossip := fs.Int("gossip-port", 7946, "gossip port of the first node; the others take the next two")
	level := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	format := fs.String("log-format", "text", "log format: json or text")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := newLogger(*level, *format)
	if err != nil {
		return err
	}
	_, statErr := os.Stat(filepath.Join(*dir, "node1"))
	reused := statErr == nil && !*fresh
	if *fresh {
		if err := os.RemoveAll(*dir); err != nil {
			return fmt.Errorf("--fresh: %w", err)
		}
	}
	clusterID, err := demoClusterID(*dir)
	if err != nil {
		return err
	}
	var nodes []*running
	defer func() {
		for _, r := range nodes {
			r.stop(log)
		}
	}()
	first := fmt.Sprintf("127.0.0.1:%d", *gossip)
	for i := 0; i < 3; i++ {
		o := nodeOptions{
			id:           fmt.Sprintf("node%d", i+1),
			clusterID:    clusterID,
			data:         filepath.Join(*dir, fmt.Sprintf("node%d", i+1)),
			http:         fmt.Sprintf("127.0.0.1:%d", *port+i),
			gossip:       fmt.Sprintf("127.0.0.1:%d", *gossip+i),
			sync:         true,
			admin:        true,
			dev:          true, // the demo runs without auth; startNode warns
			aeInterval:   time.Second,
			syncFanout:   1,
			logRetention: node.DefaultLogRetention,
			local:        true,
		}
		if i > 0 {
			o.join = first
		}
		r, err := startNode(o, log)
		if err != nil {
			return fmt.Errorf("starting %s: %w", o.id, err)
		}
		nodes = append(nodes, r)
	}
	how := "a new cluster"
	if reused {
		how = "the data of the last run (--fresh starts empty)"
	}
	fmt.Printf("Lattice demo: three nodes in one process, cluster %s, data in %s: %s\n\n", clusterID, *dir, how)
	for _, r := range nodes {
		fmt.Printf("  %s  http://%s/\n", r.node.Name(), r.ln.Addr())
	}
	fmt.Printf("\nOpen a URL in two windows (or two nodes) and edit together. Ctrl-C stops the cluster.\n")
	waitForSignal()
	fmt.Println("stopping")
	return nil
}
