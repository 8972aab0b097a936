// Command lattice is the Lattice server and its tools, one binary with
// subcommands:
//
//	lattice serve   run one node
//	lattice demo    run a three-node cluster in one process, with the web demo
//	lattice health  probe a node's /healthz, for container health checks
//	lattice token   mint a client token, or make the key that signs them
//	lattice gossip-key
//	                print a new gossip key, or make a --gossip-keyring file
//	                holding one (the compose cluster's `keys` service)
//	lattice bench   measure Lattice beside its baselines (Yjs, raw Badger,
//	                raw WebSocket) and write BENCHMARKS.md
//
// and the client commands, which keep a local replica (--dir, by default
// under the user's configuration directory) so that they work with no
// node reachable and sync on a later run; node URLs come from --url or
// LATTICE_URL (comma-separated):
//
//	lattice get KEY              print a key's value
//	lattice inc KEY [N]          add N (default 1) to a counter
//	lattice add KEY VALUE        add VALUE to a set
//	lattice rm KEY VALUE         remove VALUE from a set
//	lattice set KEY FIELD VALUE  set a map field (FIELD may be a/b/c) to VALUE
//	lattice watch [PREFIX]       print changes under PREFIX as they arrive
//
// A VALUE is JSON if it parses as a JSON scalar (42, true, "x"), else text.
//
// Every flag of a subcommand can also be set with an environment variable
// LATTICE_<NAME>, the flag's name in upper case with dashes as underscores
// (--ae-interval is LATTICE_AE_INTERVAL). A flag that means something else
// in another command carries the command's name instead (health's --url is
// LATTICE_HEALTH_URL, demo's --data LATTICE_DEMO_DATA: see envNames). A
// flag on the command line wins; `lattice <command> -h` lists each flag's
// variable. lattice token is the exception: the rights it grants come from
// its command line only.
//
// Exit status: 0 when the command did its work (a client command that
// saved a change locally with no node reachable included: it syncs
// later), and for -h; 1 when it failed, or the nodes refused the client
// (no token, a bad one, a node of another cluster); 2 for a command line
// it cannot run.
package main

import (
	"fmt"
	"os"
)

type command struct {
	name    string
	summary string
	run     func(args []string) error
}

var commands = []command{
	{"serve", "run one node", runServe},
	{"demo", "run a three-node cluster in one process, with the web demo", runDemo},
	{"health", "exit 0 if a node answers /healthz, 1 if not (container health checks)", runHealth},
	{"get", "print a key's value (client: works offline from a local replica)", runGet},
	{"inc", "add N (default 1) to a counter (client)", runInc},
	{"add", "add a value to a set (client)", runAdd},
	{"rm", "remove a value from a set (client)", runRm},
	{"set", "set a map field to a value (client)", runSet},
	{"watch", "print changes under a prefix as they arrive (client)", runWatch},
	{"token", "mint a client token (--key), or make a signing key pair (--new-key)", runToken},
	{"gossip-key", "print a new gossip key, or make a --gossip-keyring file holding one", runGossipKey},
	{"bench", "measure every scenario beside its baseline; --quick for CI (BENCHMARKS.md)", runBench},
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	for _, c := range commands {
		if c.name == os.Args[1] {
			err := c.run(os.Args[2:])
			code := exitCode(err)
			if code != 0 {
				fmt.Fprintf(os.Stderr, "lattice %s: %v\n", c.name, err)
			}
			os.Exit(code)
		}
	}
	fmt.Fprintf(os.Stderr, "lattice: unknown command %q\n\n", os.Args[1])
	usage()
	os.Exit(2)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: lattice <command> [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun 'lattice <command> -h' for a command's flags.")
}
