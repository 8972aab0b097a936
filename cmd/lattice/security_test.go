package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lattice-sync/lattice/internal/testkit"
	"github.com/lattice-sync/lattice/node"
)

func TestServeNeedsAuthOrDev(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "signing.pem")
	if err := writeKeyPair(keyFile); err != nil {
		t.Fatal(err)
	}
	if err := writeKeyPair(keyFile); err == nil {
		t.Error("--new-key overwrote an existing key")
	}
	for _, tc := range []struct {
		name string
		o    nodeOptions
		ok   bool
	}{
		{"neither", nodeOptions{}, false},
		{"dev", nodeOptions{dev: true}, true},
		{"auth key", nodeOptions{authKey: keyFile + ".pub"}, true},
		{"private key works too", nodeOptions{authKey: keyFile}, true},
		{"both", nodeOptions{dev: true, authKey: keyFile + ".pub"}, false},
		{"missing key file", nodeOptions{authKey: filepath.Join(dir, "nope")}, false},
		{"cert without key", nodeOptions{dev: true, tlsCert: "x.pem"}, false},
		{"gossip key and keyring", nodeOptions{dev: true, gossipKey: "x", gossipKeyring: "y"}, false},
	} {
		_, _, _, err := tc.o.security()
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestTokenCommand mints a token with `lattice token` and checks that a
// node trusting the .pub file reads its claims back.
func TestTokenCommand(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "signing.pem")
	if err := runToken([]string{"--new-key", keyFile}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key file: %v %v", fi.Mode(), err)
	}
	out := captureStdout(t, func() error {
		return runToken([]string{"--key", keyFile, "--sub", "ann", "--replica", "6f1c1a52-8d0e-4a43-9d1c-3c2f3e9b1a20",
			"--read", "board/1/,board/2/,", "--write", "board/1/", "--ttl", "10m"})
	})
	auth, err := node.LoadAuthenticator(keyFile + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	g, err := auth.Verify(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}
	if g.Subject != "ann" || g.Replica.String() != "6f1c1a52-8d0e-4a43-9d1c-3c2f3e9b1a20" || len(g.Read) != 2 ||
		!g.CanWrite("board/1/x") || g.CanWrite("board/2/x") || g.Admin || time.Until(g.Expires) > 10*time.Minute {
		t.Fatalf("grant %+v", g)
	}
	if err := runToken([]string{"--key", keyFile + ".pub"}); err == nil {
		t.Error("minted with a public key")
	}
}

func captureStdout(t *testing.T, f func() error) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	ferr := f()
	os.Stdout = old
	w.Close()
	b, _ := io.ReadAll(r)
	if ferr != nil {
		t.Fatal(ferr)
	}
	return string(b)
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their files and a pool that trusts the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "lattice test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool
}

// TestServeTLSAuthAndKeyring runs a node as `lattice serve` would with
// TLS, auth, encryption at rest and a gossip keyring: HTTPS and WSS work
// for a client that trusts the CA and holds a token, plain HTTP does not,
// a request without a token gets 401, `lattice health` probes over TLS,
// and a SIGHUP-style reload changes the gossip keys.
func TestServeTLSAuthAndKeyring(t *testing.T) {
	testkit.NeedLoopback(t, "127.0.0.1")
	dir := t.TempDir()
	certFile, certKey, pool := selfSigned(t, dir)
	signing := filepath.Join(dir, "signing.pem")
	if err := writeKeyPair(signing); err != nil {
		t.Fatal(err)
	}
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	keyring := filepath.Join(dir, "keyring")
	writeKeyring := func(keys ...[]byte) {
		var b strings.Builder
		b.WriteString("# gossip keys, the first encrypts\n")
		for _, k := range keys {
			b.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
		}
		if err := os.WriteFile(keyring, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeKeyring(k1)
	encKey := filepath.Join(dir, "disk.key")
	if err := os.WriteFile(encKey, []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := nodeOptions{
		id: "tls1", data: filepath.Join(dir, "data"), http: "127.0.0.1:0", gossip: "127.0.0.1:0",
		sync: true, aeInterval: time.Second, logRetention: node.DefaultLogRetention, local: true,
		authKey: signing + ".pub", tlsCert: certFile, tlsKey: certKey, encryptionKey: encKey, gossipKeyring: keyring,
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := startNode(o, log)
	if err != nil {
		t.Fatal(err)
	}
	defer r.stop(log)
	addr := r.ln.Addr().String()

	tok := captureStdout(t, func() error {
		return runToken([]string{"--key", signing, "--replica", "6f1c1a52-8d0e-4a43-9d1c-3c2f3e9b1a20", "--read", "doc/", "--write", "doc/"})
	})
	tok = strings.TrimSpace(tok)
	tlsCfg := &tls.Config{RootCAs: pool}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	do := func(method, path, token, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, "https://"+addr+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := do("GET", "/v1/objects/doc/a", "", ""); got != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", got)
	}
	if got := do("POST", "/v1/objects/doc/a", tok, `{"type":"counter","op":"inc"}`); got != http.StatusOK {
		t.Errorf("write with a token: %d", got)
	}
	if got := do("POST", "/v1/objects/other", tok, `{"type":"counter","op":"inc"}`); got != http.StatusForbidden {
		t.Errorf("write outside the token's prefixes: %d, want 403", got)
	}
	if got := do("GET", "/v1/admin/faults", tok, ""); got != http.StatusForbidden {
		t.Errorf("admin route without the admin claim: %d, want 403", got)
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP served on the TLS port")
		}
	}
	if err := runHealth([]string{"--http", addr, "--tls-cert", certFile}); err != nil {
		t.Errorf("lattice health over TLS: %v", err)
	}

	d := websocket.Dialer{TLSClientConfig: tlsCfg, HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial("wss://"+addr+"/v1/ws", http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteJSON(map[string]any{"t": "hello", "v": 1, "replica": "6f1c1a52-8d0e-4a43-9d1c-3c2f3e9b1a20"}); err != nil {
		t.Fatal(err)
	}
	var welcome map[string]any
	if err := ws.ReadJSON(&welcome); err != nil || welcome["t"] != "welcome" {
		t.Fatalf("wss session: %v %v", welcome, err)
	}
	if _, _, err := (&websocket.Dialer{HandshakeTimeout: 5 * time.Second}).Dial("wss://"+addr+"/v1/ws", nil); err == nil {
		t.Error("a client that does not trust the CA connected")
	}

	if n := r.ml.KeyCount(); n != 1 {
		t.Fatalf("%d gossip keys at start", n)
	}
	writeKeyring(k2, k1)
	r.reloadKeyring(keyring, log)
	if n := r.ml.KeyCount(); n != 2 {
		t.Fatalf("%d gossip keys after adding one", n)
	}
	writeKeyring(k2)
	r.reloadKeyring(keyring, log)
	if n := r.ml.KeyCount(); n != 1 {
		t.Fatalf("%d gossip keys after removing one", n)
	}
	if err := os.WriteFile(keyring, []byte("not base64!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.reloadKeyring(keyring, log) // logged and ignored: the keys stay
	if n := r.ml.KeyCount(); n != 1 {
		t.Fatalf("%d gossip keys after a bad file", n)
	}
	var cl struct {
		HTTP string `json:"http"`
	}
	b, _ := json.Marshal(r.node.Cluster())
	_ = json.Unmarshal(b, &cl)
	if !strings.HasPrefix(cl.HTTP, "https://") {
		t.Errorf("the node advertises %q, want https", cl.HTTP)
	}
}

// TestServeRefusesToRunWithoutAuth: the binary will not serve without
// --auth-key unless told --dev, and then says so loudly.
func TestServeRefusesToRunWithoutAuth(t *testing.T) {
	testkit.NeedLoopback(t, "127.0.0.1")
	var env []string
	for _, kv := range testkit.ChildEnv() {
		if kv != "LATTICE_DEV=true" {
			env = append(env, kv)
		}
	}
	cmd := exec.Command(testkit.Binary(t), "serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--gossip", "127.0.0.1:0")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "--auth-key") || !strings.Contains(string(out), "--dev") {
		t.Fatalf("serve without auth: %v\n%s", err, out)
	}

	p := testkit.NewProc(t, "dev", "127.0.0.1")
	p.StartFresh()
	warned := false
	p.ScanLines(func(l string) { warned = warned || strings.Contains(l, "DEVELOPMENT MODE") })
	if !warned {
		t.Error("a node in development mode did not warn")
	}
}
