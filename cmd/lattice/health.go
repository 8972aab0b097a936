package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	neturl "net/url"
	"strings"
	"time"
)

// runHealth asks a node's /healthz and exits 0 if it answers 200, 1
// otherwise. It exists for container health checks: an image FROM scratch
// has no shell and no curl, only this binary. Without --url it probes the
// port of --http (LATTICE_HTTP, as the container's `serve` reads it) on
// loopback, so one HEALTHCHECK line fits every node whatever its port.
// --url is LATTICE_HEALTH_URL, not the client commands' LATTICE_URL (a
// list of nodes), and a URL without a path probes its /healthz.
func runHealth(args []string) error {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	url := fs.String("url", "", "node URL to probe; one without a path probes its /healthz (default: http://127.0.0.1:<port of --http>/healthz)")
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
	target, err := healthURL(*url)
	if err != nil {
		return usageError{err}
	}
	*url = target
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

// healthURL is the URL health probes for --url u: u itself if it has a
// path, else its /healthz.
func healthURL(u string) (string, error) {
	if strings.Contains(u, ",") {
		return "", fmt.Errorf("--url %q: one node URL, not a list (LATTICE_URL, the client commands' node list, is not read here; LATTICE_HEALTH_URL is)", u)
	}
	p, err := neturl.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return "", fmt.Errorf("--url %q: want http://host:port or https://host:port, with an optional path", u)
	}
	if p.Path == "" || p.Path == "/" {
		p.Path = "/healthz"
	}
	return p.String(), nil
}
