package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// envNames are the variables whose flag means something else in another
// command, so they carry the command's name: LATTICE_URL is the client
// commands' comma-separated node list, LATTICE_DATA one node's directory.
// Every other flag is LATTICE_<NAME> and means the same wherever it
// appears (health's --http and --tls-cert are serve's, on purpose: a
// container's health check reads the variables its node was started with).
var envNames = map[string]string{
	"health.url":       "LATTICE_HEALTH_URL",
	"demo.data":        "LATTICE_DEMO_DATA",
	"demo.port":        "LATTICE_DEMO_PORT",
	"demo.gossip-port": "LATTICE_DEMO_GOSSIP_PORT",
	"demo.fresh":       "LATTICE_DEMO_FRESH",
}

// envName is the environment variable that sets flag name of command cmd.
func envName(cmd, name string) string {
	if env, ok := envNames[cmd+"."+name]; ok {
		return env
	}
	return "LATTICE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// parseFlags parses args after applying the flags' environment variables
// (envName) as defaults, so that containers can be configured by
// environment and a command line still wins. Its usage message is head
// (default "usage: lattice NAME [flags]") and every flag with its
// variable. -h prints it and returns flag.ErrHelp, which main treats as
// success.
func parseFlags(fs *flag.FlagSet, args []string, head ...string) error {
	var bad error
	fs.VisitAll(func(f *flag.Flag) {
		env := envName(fs.Name(), f.Name)
		if v, ok := os.LookupEnv(env); ok && bad == nil {
			if err := f.Value.Set(v); err != nil {
				bad = fmt.Errorf("%s=%q: %w", env, v, err)
			}
		}
	})
	if bad != nil {
		return bad
	}
	h := fmt.Sprintf("usage: lattice %s [flags]", fs.Name())
	if len(head) > 0 {
		h = head[0]
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\n\nflags:\n", h)
		printFlags(fs)
	}
	if err := fs.Parse(args); err != nil && !errors.Is(err, flag.ErrHelp) {
		return usageError{err}
	} else if err != nil {
		return err
	}
	return nil
}

// printFlags is flag.PrintDefaults with each flag's environment variable,
// and without a second default when the help text states its own.
func printFlags(fs *flag.FlagSet) {
	w := fs.Output()
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  -%s", f.Name)
		if name != "" {
			fmt.Fprintf(w, " %s", name)
		}
		fmt.Fprintf(w, "\n    \t%s", strings.ReplaceAll(usage, "\n", "\n    \t"))
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && !strings.Contains(usage, "(default") {
			if fmt.Sprintf("%T", f.Value) == "*flag.stringValue" {
				fmt.Fprintf(w, " (default %q)", f.DefValue)
			} else {
				fmt.Fprintf(w, " (default %v)", f.DefValue)
			}
		}
		fmt.Fprintf(w, "\n    \tenvironment: %s", envName(fs.Name(), f.Name))
		fmt.Fprintln(w)
	})
}

// exitCode is main's exit status for a command's error: 0 for -h, 2 for
// a command line it cannot run (usageError), 1 for every other failure.
func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		return 2
	}
	return 1
}

// usageError is a command line the command cannot run.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// newLogger makes the process's structured logger.
func newLogger(level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want json or text", format)
}
