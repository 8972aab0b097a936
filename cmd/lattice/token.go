package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/lattice-sync/lattice/node"
)

// runToken mints a client token, or with --new-key makes the signing key
// pair: FILE holds the private key (for `lattice token` only; keep it off
// the nodes) and FILE.pub the public key that nodes verify with
// (--auth-key). docs/security.md describes the claims. Unlike the other
// commands it reads no environment variables: every right is on its
// command line.
func runToken(args []string) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	newKey := fs.String("new-key", "", "write a new Ed25519 key pair: the private key to this file (mode 0600), the public key to this file + .pub; then exit")
	keyFile := fs.String("key", "", "PEM file of the private key that signs tokens (from --new-key)")
	sub := fs.String("sub", "", "subject: who the token is for (a user or service name, for logs)")
	replica := fs.String("replica", "", "the client's replica UUID, the only one it may mint changes under (default: a new one, printed to stderr)")
	read := fs.String("read", "", `comma-separated key prefixes the client may read and subscribe to ("" none; use --read-all for every key)`)
	write := fs.String("write", "", "comma-separated key prefixes the client may write")
	readAll := fs.Bool("read-all", false, "allow reading every key")
	writeAll := fs.Bool("write-all", false, "allow writing every key")
	admin := fs.Bool("admin", false, "allow the admin endpoints (fault injection)")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	// No LATTICE_<NAME> variables here: a shell that runs nodes with
	// LATTICE_ADMIN=true must not silently mint admin tokens.
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *newKey != "" {
		return writeKeyPair(*newKey)
	}
	if *keyFile == "" {
		return errors.New("--key FILE is required (make one with --new-key FILE)")
	}
	if *ttl <= 0 {
		return fmt.Errorf("--ttl %v must be positive", *ttl)
	}
	b, err := os.ReadFile(*keyFile)
	if err != nil {
		return err
	}
	_, priv, err := node.ParseAuthKey(b)
	if err != nil {
		return fmt.Errorf("--key: %w", err)
	}
	if priv == nil {
		return errors.New("--key holds a public key; tokens are signed with the private one")
	}
	if *replica == "" {
		*replica = uuid.NewString()
		fmt.Fprintf(os.Stderr, "replica %s\n", *replica)
	}
	c := node.Claims{Replica: *replica, Read: prefixes(*read), Write: prefixes(*write), Admin: *admin}
	if *readAll {
		c.Read = []string{""}
	}
	if *writeAll {
		c.Write = []string{""}
	}
	now := time.Now()
	c.Subject = *sub
	c.IssuedAt = jwt.NewNumericDate(now)
	c.ExpiresAt = jwt.NewNumericDate(now.Add(*ttl))
	tok, err := node.MintToken(priv, c)
	if err != nil {
		return err
	}
	fmt.Println(tok)
	return nil
}

// prefixes splits a comma-separated list, dropping empty entries: an
// accidental trailing comma must not grant every key.
func prefixes(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func writeKeyPair(path string) error {
	priv, pub, err := node.NewAuthKey()
	if err != nil {
		return err
	}
	// O_EXCL: overwriting a key in use would invalidate every token.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(priv); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(path+".pub", pub, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "private key (signs tokens; keep it secret, off the nodes): %s\npublic key (for lattice serve --auth-key): %s.pub\n", path, path)
	return nil
}
