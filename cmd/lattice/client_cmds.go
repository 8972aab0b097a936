package main

// The client subcommands: get, inc, add, rm, set and watch. Each keeps a
// local replica (the Go client, clients/go) in --dir, so they work with no
// node reachable and sync on a later run.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	lattice "github.com/lattice-sync/lattice/clients/go"
)

// clientFlags are the flags every client subcommand has.
type clientFlags struct {
	urls    string
	dir     string
	token   string
	ca      string
	wait    time.Duration
	offline bool
	verbose bool
}

func (f *clientFlags) register(fs *flag.FlagSet, withDir bool) {
	fs.StringVar(&f.urls, "url", "", "comma-separated node URLs (http://host:port or ws://host:port/v1/ws); none: work offline")
	if withDir {
		fs.StringVar(&f.dir, "dir", defaultReplicaDir(), "directory of the local replica")
	}
	fs.StringVar(&f.token, "token", "", "credentials sent to the nodes (prefer the environment to the command line)")
	fs.StringVar(&f.ca, "ca", "", "PEM file of certificate authorities for wss:// and https:// nodes (default: the system's)")
	fs.DurationVar(&f.wait, "wait", 5*time.Second, "how long to try to sync before reporting the change as saved locally")
	fs.BoolVar(&f.offline, "offline", false, "do not connect: read and write the local replica only")
	fs.BoolVar(&f.verbose, "v", false, "say what happens on stderr")
}

// defaultReplicaDir is under the user's configuration directory
// (~/.config/lattice/replica on Linux).
func defaultReplicaDir() string {
	base, err := os.UserConfigDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "lattice", "replica")
}

func (f *clientFlags) logf(format string, args ...any) {
	if f.verbose {
		fmt.Fprintf(os.Stderr, "lattice: "+format+"\n", args...)
	}
}

// open opens the replica, waiting a little if another lattice process has
// it open (two commands run at once).
func (f *clientFlags) open(dir string) (*lattice.Client, error) {
	opts := &lattice.Options{Dir: dir, URLs: f.urls, Token: f.token, CAFile: f.ca, Offline: f.offline}
	deadline := time.Now().Add(max(f.wait, 2*time.Second))
	for {
		c, err := lattice.Open(opts)
		if err == nil {
			if dir != "" {
				f.logf("replica %s in %s", c.Replica(), dir)
			}
			return c, nil
		}
		if !errors.Is(err, lattice.ErrInUse) || time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// parseArgs parses flags placed before, between or after the positional
// arguments (a negative number is an argument, not a flag) and checks
// their count.
func parseArgs(fs *flag.FlagSet, args []string, minArgs, maxArgs int, usage string) ([]string, error) {
	if err := parseFlags(fs, args, fmt.Sprintf("usage: lattice %s %s [flags]", fs.Name(), usage)); err != nil {
		return nil, err
	}
	var pos []string
	rest := fs.Args()
	for len(rest) > 0 {
		a := rest[0]
		if a == "--" {
			pos = append(pos, rest[1:]...)
			break
		}
		if _, err := strconv.ParseFloat(a, 64); len(a) > 1 && a[0] == '-' && err != nil {
			if err := fs.Parse(rest); err != nil {
				if errors.Is(err, flag.ErrHelp) {
					return nil, err
				}
				return nil, usageError{err}
			}
			rest = fs.Args()
			continue
		}
		pos = append(pos, a)
		rest = rest[1:]
	}
	if len(pos) < minArgs || len(pos) > maxArgs {
		fs.Usage()
		return nil, usageError{fmt.Errorf("want %s", usage)}
	}
	return pos, nil
}

// cliValue reads a value argument: JSON if it is a JSON scalar (42, true,
// null, "quoted"), otherwise the text as a string.
func cliValue(s string) string {
	var v any
	if json.Unmarshal([]byte(s), &v) == nil {
		switch v.(type) {
		case map[string]any, []any:
		default:
			return strings.TrimSpace(s)
		}
	}
	return lattice.JSONString(s)
}

func runGet(args []string) error {
	f, c, pos, err := openForKey("get", args, 1, 1, "KEY")
	if err != nil {
		return err
	}
	defer c.Close()
	key := pos[0]
	refused := f.sync(c, "read")
	v, err := c.Get(key)
	if err != nil {
		return err
	}
	fmt.Println(v)
	return refused
}

// openForKey parses a command that names a key first, opens the local
// replica and subscribes to the key, so a sync brings it up to date.
func openForKey(name string, args []string, minArgs, maxArgs int, usage string) (*clientFlags, *lattice.Client, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	f := &clientFlags{}
	f.register(fs, true)
	pos, err := parseArgs(fs, args, minArgs, maxArgs, usage)
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := f.open(f.dir)
	if err != nil {
		return nil, nil, nil, err
	}
	if _, err := c.Subscribe(pos[0], nil); err != nil {
		c.Close()
		return nil, nil, nil, err
	}
	return f, c, pos, nil
}

// sync tries to sync for --wait and says how it went: quietly when it
// worked (unless -v), on stderr when the local replica is all there is.
// No node reachable is no failure (the replica works offline and syncs
// later); nodes that refuse this replica are: sync returns why (refusal).
func (f *clientFlags) sync(c *lattice.Client, what string) error {
	if f.offline || f.urls == "" {
		why := "offline"
		if !f.offline {
			why = "no --url (or LATTICE_URL)"
		}
		if n := c.Pending(); n > 0 && what == "changed" {
			fmt.Fprintf(os.Stderr, "lattice: %s: saved locally, %d pending; they sync on the next command that reaches a node\n", why, n)
		} else if !f.offline {
			fmt.Fprintf(os.Stderr, "lattice: %s: %s the local replica only\n", why, what)
		}
		return nil
	}
	err := c.Sync(f.wait.Milliseconds())
	if err == nil {
		f.logf("synced with %s", c.Node())
		return nil
	}
	if r := f.refusal(c, err); r != nil {
		if n := c.Pending(); n > 0 {
			fmt.Fprintf(os.Stderr, "lattice: %d pending change(s) saved locally; they sync once the nodes accept this replica\n", n)
		}
		return r
	}
	if n := c.Pending(); n > 0 {
		fmt.Fprintf(os.Stderr, "lattice: not synced: %v\nlattice: %d pending change(s) saved locally; they sync on the next command that reaches a node\n", err, n)
	} else {
		fmt.Fprintf(os.Stderr, "lattice: not synced (%v): %s the local replica only\n", err, what)
	}
	return nil
}

// refusal turns a sync error that is the nodes refusing this replica
// into the command's error, saying what to do; nil for any other error.
func (f *clientFlags) refusal(c *lattice.Client, err error) error {
	switch {
	case errors.Is(err, lattice.ErrUnauthorized) && f.token == "":
		return fmt.Errorf("the nodes need a token and none was given: --token or LATTICE_TOKEN, one naming replica %s (%w)", c.Replica(), err)
	case errors.Is(err, lattice.ErrUnauthorized):
		return fmt.Errorf("the nodes refuse the token: it must be valid, unexpired and name replica %s (%w)", c.Replica(), err)
	case errors.Is(err, lattice.ErrWrongCluster):
		return fmt.Errorf("%w; the replica in %s belongs to that other cluster: give this cluster another --dir (LATTICE_DIR), or delete the directory if nothing in it is needed", err, f.dir)
	}
	return nil
}

// runWrite is every mutating subcommand: bring the key up to date if a
// node answers, apply the change locally (it is on disk from then on),
// then try to sync it for --wait and print the key's value.
func runWrite(name, usage string, minArgs, maxArgs int, op func(c *lattice.Client, pos []string) error) func([]string) error {
	return func(args []string) error {
		f, c, pos, err := openForKey(name, args, minArgs, maxArgs, usage)
		if err != nil {
			return err
		}
		defer c.Close()
		key := pos[0]
		// Reading first, briefly, makes removes and flag disables see what
		// the cluster holds, and a wrong type show up before the write.
		var unreachable error
		if !f.offline && f.urls != "" {
			err := c.Sync(min(f.wait, preSyncWait).Milliseconds())
			if r := f.refusal(c, err); r != nil {
				// Refused before anything changed: change nothing, so the
				// replica holds no write the nodes will never take.
				return fmt.Errorf("%w; nothing was changed", r)
			}
			if errors.Is(err, lattice.ErrUnreachable) {
				unreachable = err
			}
		}
		if err := op(c, pos); err != nil {
			return err
		}
		v, _ := c.Get(key)
		f.logf("applied locally: %s = %s (%d pending)", key, v, c.Pending())
		var refused error
		if unreachable != nil {
			f.logf("%v", unreachable)
			fmt.Fprintf(os.Stderr, "lattice: no node reachable: saved locally, %d pending; they sync on the next command that reaches a node\n", c.Pending())
		} else {
			refused = f.sync(c, "changed")
		}
		v, err = c.Get(key)
		if err != nil {
			return err
		}
		fmt.Println(v)
		return refused
	}
}

// preSyncWait bounds the read before a write: on a network that drops
// packets the write must not wait for --wait before it is saved.
const preSyncWait = 2 * time.Second

var (
	runInc = runWrite("inc", "KEY [N]", 1, 2, func(c *lattice.Client, pos []string) error {
		by := int64(1)
		if len(pos) == 2 {
			n, err := strconv.ParseInt(pos[1], 10, 64)
			if err != nil {
				return fmt.Errorf("N %q is not an integer", pos[1])
			}
			by = n
		}
		return c.Inc(pos[0], "", by)
	})
	runAdd = runWrite("add", "KEY VALUE", 2, 2, func(c *lattice.Client, pos []string) error {
		return c.Add(pos[0], "", cliValue(pos[1]))
	})
	runRm = runWrite("rm", "KEY VALUE", 2, 2, func(c *lattice.Client, pos []string) error {
		return c.Remove(pos[0], "", cliValue(pos[1]))
	})
	runSet = runWrite("set", "KEY FIELD VALUE", 3, 3, func(c *lattice.Client, pos []string) error {
		return c.Set(pos[0], pos[1], cliValue(pos[2]))
	})
)

// printer prints changes for watch, one line each.
type printer struct{}

func (printer) OnChange(key, value string, local bool) { fmt.Printf("%s = %s\n", key, value) }

type statusPrinter struct{ c **lattice.Client }

func (s statusPrinter) OnStatus(status string) {
	if status == lattice.StatusOnline && *s.c != nil {
		fmt.Fprintf(os.Stderr, "lattice: online (%s)\n", (*s.c).Node())
		return
	}
	fmt.Fprintf(os.Stderr, "lattice: %s\n", status)
}

// runWatch prints every change under a prefix as it arrives, starting with
// what the cluster holds, until interrupted. It keeps its replica in
// memory, so it never holds the directory the other commands use.
func runWatch(args []string) error {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	var f clientFlags
	f.register(fs, false)
	pos, err := parseArgs(fs, args, 0, 1, "[PREFIX]")
	if err != nil {
		return err
	}
	if f.urls == "" {
		return errors.New("watch needs node URLs: --url or LATTICE_URL")
	}
	prefix := ""
	if len(pos) == 1 {
		prefix = pos[0]
	}
	var c *lattice.Client
	opts := &lattice.Options{URLs: f.urls, Token: f.token, CAFile: f.ca, OnStatus: statusPrinter{&c}}
	c, err = lattice.Open(opts)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.SubscribePrefix(prefix, printer{}); err != nil {
		return err
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	<-ch
	signal.Stop(ch)
	return nil
}
