package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"time"
)

// runHealth asks a node's /healthz and exits 0 if it answers 200, 1
// otherwise. It exists for container health checks: an image FROM scratch
// has no shell and no curl, only this binary. Without --url it probes the
// port of --http (LATTICE_HTTP, as the container's `serve` reads it) on
// loopback, so one HEALTHCHECK line fits every node whatever its port.
func runHealth(args []string) error {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	url := fs.String("url", "", "URL to probe (default: http://127.0.0.1:<port of --http>/healthz)")
	listen := fs.String("http", ":8080", "the node's HTTP listen address, as given to serve; used when --url is empty")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	tlsCert := fs.String("tls-cert", "", "the node's --tls-cert: when set, probe https (LATTICE_TLS_CERT, as serve reads it)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *url == "" {
		_, port, err := net.SplitHostPort(*listen)
		if err != nil {
			return fmt.Errorf("--http %q: %w", *listen, err)
		}
		scheme := "http://"
		if *tlsCert != "" {
			scheme = "https://"
		}
		*url = scheme + net.JoinHostPort("127.0.0.1", port) + "/healthz"
	}
	c := &http.Client{Timeout: *timeout}
	if *tlsCert != "" {
		// A liveness probe of the node's own loopback port: the certificate
		// names the node's public host, not 127.0.0.1, and nothing secret
		// crosses, so it is not verified.
		c.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec
	}
	resp, err := c.Get(*url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(*url + ": " + resp.Status)
	}
	return nil
}
