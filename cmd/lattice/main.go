// Command lattice is the Lattice server and its tools, one binary with
// subcommands:
//
//	lattice serve   run one node
//	lattice demo    run a three-node cluster in one process, with the web demo
//	lattice health  probe a node's /healthz, for container health checks
//
// Every flag of a subcommand can also be set with an environment variable
// LATTICE_<NAME>, the flag's name in upper case with dashes as underscores
// (--ae-interval is LATTICE_AE_INTERVAL). A flag on the command line wins.
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
			if err := c.run(os.Args[2:]); err != nil {
				fmt.Fprintf(os.Stderr, "lattice %s: %v\n", c.name, err)
				os.Exit(1)
			}
			return
		}
	}
	fmt.Fprintf(os.Stderr, "lattice: unknown command %q\n\n", os.Args[1])
	usage()
	os.Exit(2)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: lattice <command> [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun 'lattice <command> -h' for a command's flags.")
}
