// Command example is a small offline-first to-do list on the Lattice Go
// client. Its list lives in one key, a map of items, each a map of a
// title (last-writer-wins) and a done flag (enable-wins), kept in a local
// replica that works with no network and syncs with the nodes when it can:
//
//	go run ./clients/go/example -url http://127.0.0.1:8080 add Buy milk
//	go run ./clients/go/example list
//	go run ./clients/go/example done 18f3a2c41d2-7c
//	go run ./clients/go/example watch
//
// Two people (two -dir) editing the same list offline converge when they
// come back: a title edited on both sides keeps the later write, and an item
// one side completed while the other renamed keeps both changes.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	lattice "github.com/lattice-sync/lattice/clients/go"
)

type item struct {
	Title string `json:"title"`
	Done  bool   `json:"done"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "todo:", err)
		os.Exit(1)
	}
}

func run() error {
	confDir, err := os.UserConfigDir()
	if err != nil {
		confDir = os.TempDir()
	}
	dir := flag.String("dir", filepath.Join(confDir, "lattice-todo"), "directory of the local replica")
	urls := flag.String("url", "", "comma-separated node URLs; none: offline\n(environment: LATTICE_URL, used when -url is not given)")
	token := flag.String("token", "", "credentials for the nodes\n(environment: LATTICE_TOKEN, used when -token is not given)")
	list := flag.String("list", "default", "which list")
	wait := flag.Duration("wait", 3*time.Second, "how long to try to sync")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: todo [flags] list | add TEXT... | done ID | undo ID | rename ID TEXT... | rm ID | watch")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *urls == "" {
		*urls = os.Getenv("LATTICE_URL")
	}
	if *token == "" {
		*token = os.Getenv("LATTICE_TOKEN")
	}
	args := flag.Args()
	if len(args) == 0 {
		args = []string{"list"}
	}
	watching := args[0] == "watch"
	opts := &lattice.Options{Dir: *dir, URLs: *urls, Token: *token}
	if watching {
		opts.Dir = "" // watch keeps its replica in memory, leaving -dir to the other commands
	}
	c, err := lattice.Open(opts)
	if err != nil {
		return err
	}
	defer c.Close()
	key := "todo/" + *list
	if watching {
		return watch(c, key)
	}
	if _, err := c.Subscribe(key, nil); err != nil {
		return err
	}
	if *urls != "" {
		_ = c.Sync(min(*wait, time.Second).Milliseconds()) // read the latest first, if a node answers soon
	}
	if err := edit(c, key, args); err != nil {
		return err
	}
	synced := *urls != "" && c.Sync(wait.Milliseconds()) == nil
	if err := show(c, key); err != nil {
		return err
	}
	switch {
	case synced:
		fmt.Printf("(synced with %s)\n", c.Node())
	case c.Pending() > 0:
		fmt.Printf("(offline: %d change(s) saved locally, they sync next time a node is reachable)\n", c.Pending())
	default:
		fmt.Println("(offline: the list as this device last saw it)")
	}
	return nil
}

// edit applies one command to the list.
func edit(c *lattice.Client, key string, args []string) error {
	need := func(n int) error {
		if len(args) < n {
			return fmt.Errorf("%s needs %d argument(s)", args[0], n-1)
		}
		return nil
	}
	switch args[0] {
	case "list":
		return nil
	case "add":
		if err := need(2); err != nil {
			return err
		}
		return c.Set(key, newID()+"/title", lattice.JSONString(strings.Join(args[1:], " ")))
	}
	if len(args) >= 2 && slices.Contains([]string{"rename", "done", "undo", "rm"}, args[0]) {
		if err := known(c, key, args[1]); err != nil {
			return err
		}
	}
	switch args[0] {
	case "rename":
		if err := need(3); err != nil {
			return err
		}
		return c.Set(key, args[1]+"/title", lattice.JSONString(strings.Join(args[2:], " ")))
	case "done":
		if err := need(2); err != nil {
			return err
		}
		return c.Enable(key, args[1]+"/done")
	case "undo":
		if err := need(2); err != nil {
			return err
		}
		return c.Disable(key, args[1]+"/done")
	case "rm":
		if err := need(2); err != nil {
			return err
		}
		return c.Delete(key, args[1])
	}
	return errors.New("unknown command " + args[0])
}

// known reports an error unless the list holds an item id: done, undo,
// rename and rm on a mistyped id would otherwise make a blank item or do
// nothing.
func known(c *lattice.Client, key, id string) error {
	m, err := items(c, key)
	if err != nil {
		return err
	}
	if _, ok := m[id]; !ok {
		return fmt.Errorf("no item %s in the list (as this device last saw it; `list` shows the ids)", id)
	}
	return nil
}

// newID is sortable by creation time and unique without coordination.
func newID() string {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%s", time.Now().UnixMilli(), hex.EncodeToString(b))
}

func items(c *lattice.Client, key string) (map[string]item, error) {
	v, err := c.Get(key)
	if err != nil {
		return nil, err
	}
	m := map[string]item{}
	if v != "null" {
		if err := json.Unmarshal([]byte(v), &m); err != nil {
			return nil, fmt.Errorf("%s is not a to-do list: %s", key, v)
		}
	}
	return m, nil
}

func show(c *lattice.Client, key string) error {
	m, err := items(c, key)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if len(ids) == 0 {
		fmt.Println("nothing to do")
	}
	for _, id := range ids {
		mark := " "
		if m[id].Done {
			mark = "x"
		}
		fmt.Printf("[%s] %s  %s\n", mark, id, m[id].Title)
	}
	return nil
}

// watcher prints the list whenever it changes.
type watcher struct {
	c   *lattice.Client
	key string
}

func (w watcher) OnChange(key, value string, local bool) {
	fmt.Printf("--- %s changed on %s\n", key, w.c.Node())
	_ = show(w.c, w.key)
}

func watch(c *lattice.Client, key string) error {
	if _, err := c.Subscribe(key, watcher{c, key}); err != nil {
		return err
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	<-ch
	return nil
}
