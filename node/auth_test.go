package node

import (
	"crypto/ed25519"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/protocol"
	"github.com/lattice-sync/lattice/node/api"
	"github.com/lattice-sync/lattice/transport"
)

// testAuth is a signing key and the authenticator that trusts it.
type testAuth struct {
	t    testing.TB
	priv ed25519.PrivateKey
	auth *Authenticator
}

func newTestAuth(t testing.TB) *testAuth {
	t.Helper()
	privPEM, pubPEM, err := NewAuthKey()
	if err != nil {
		t.Fatal(err)
	}
	_, priv, err := ParseAuthKey(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	pub, none, err := ParseAuthKey(pubPEM)
	if err != nil || none != nil {
		t.Fatal(err)
	}
	return &testAuth{t: t, priv: priv, auth: NewAuthenticator(pub)}
}

// token mints a token for replica with the given rights, valid for ttl.
func (a *testAuth) token(replica uuid.UUID, read, write []string, admin bool, ttl time.Duration) string {
	a.t.Helper()
	c := Claims{Read: read, Write: write, Admin: admin}
	if replica != uuid.Nil {
		c.Replica = replica.String()
	}
	c.Subject = "tester"
	c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(ttl))
	tok, err := MintToken(a.priv, c)
	if err != nil {
		a.t.Fatal(err)
	}
	return tok
}

func TestGrantPrefixes(t *testing.T) {
	g := &Grant{Read: []string{"board/1/", "public/"}, Write: []string{"board/1/"}}
	for _, tc := range []struct {
		key         string
		read, write bool
	}{
		{"board/1/cards", true, true},
		{"board/1/", true, true},
		{"board/2/cards", false, false},
		{"board/", false, false}, // a subscription to board/ would deliver board/2/
		{"board/10/x", false, false},
		{"public/news", true, false},
		{"", false, false},
	} {
		if g.CanRead(tc.key) != tc.read || g.CanReadPrefix(tc.key) != tc.read || g.CanWrite(tc.key) != tc.write {
			t.Errorf("%q: read %v write %v, want %v %v", tc.key, g.CanRead(tc.key), g.CanWrite(tc.key), tc.read, tc.write)
		}
	}
	all := &Grant{Read: []string{""}}
	if !all.CanReadPrefix("") || !all.CanRead("anything") || all.CanWrite("anything") {
		t.Error(`a read prefix "" must cover every key, and give no write`)
	}
}

// TestVerifyRefuses: only an unexpired EdDSA token signed by the trusted
// key passes; the classic JWT tricks do not.
func TestVerifyRefuses(t *testing.T) {
	a := newTestAuth(t)
	other := newTestAuth(t)
	r := uuid.New()
	good := a.token(r, []string{""}, nil, false, time.Minute)
	g, err := a.auth.Verify(good)
	if err != nil || g.Replica != r || g.Subject != "tester" {
		t.Fatalf("a good token: %v %+v", err, g)
	}
	pub := a.priv.Public().(ed25519.PublicKey)
	hs, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix(), "read": []string{""}}).SignedString([]byte(pub))
	if err != nil {
		t.Fatal(err)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	noExp, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"read": []string{""}}).SignedString(a.priv)
	if err != nil {
		t.Fatal(err)
	}
	badReplica, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix(), "replica": "NOT-A-UUID"}).SignedString(a.priv)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	cases := map[string]struct {
		tok  string
		want error
	}{
		"empty":                     {"", api.ErrTokenMissing},
		"garbage":                   {"not.a.token", api.ErrTokenInvalid},
		"another key":               {other.token(r, []string{""}, nil, true, time.Minute), api.ErrTokenInvalid},
		"HS256 with the public key": {hs, api.ErrTokenInvalid},
		"alg none":                  {none, api.ErrTokenInvalid},
		"no expiry":                 {noExp, api.ErrTokenInvalid},
		"expired":                   {a.token(r, []string{""}, nil, false, -time.Minute), api.ErrTokenExpired},
		"tampered claims":           {parts[0] + "." + strings.TrimRight(parts[1], "A") + "A." + parts[2], api.ErrTokenInvalid},
		"replica not a UUID":        {badReplica, api.ErrTokenInvalid},
		"huge":                      {strings.Repeat("a", api.MaxTokenLen+1), api.ErrTokenInvalid},
	}
	for name, tc := range cases {
		if _, err := a.auth.Verify(tc.tok); err == nil || !errorsIs(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

func errorsIs(err, target error) bool {
	return err != nil && strings.HasPrefix(err.Error(), target.Error())
}

// TestHTTPAuth: with auth on, no token is 401, rights are per prefix (403),
// admin routes need the admin claim, probes stay open.
func TestHTTPAuth(t *testing.T) {
	a := newTestAuth(t)
	faulty := transport.NewFaulty(transport.NewMemNetwork().Add("h1"), 1)
	t.Cleanup(func() { faulty.Close() })
	f := newHTTPFixture(t, HTTPOptions{Auth: a.auth, Admin: true, Faults: faulty})
	r := uuid.New()
	board1 := a.token(r, []string{"board/1/"}, []string{"board/1/"}, false, time.Minute)
	readOnly := a.token(r, []string{""}, nil, false, time.Minute)
	admin := a.token(uuid.Nil, nil, nil, true, time.Minute)
	expired := a.token(r, []string{""}, []string{""}, true, -time.Second)
	inc := `{"type":"counter","op":"inc"}`
	cases := []struct {
		name, token, method, path, body string
		status                          int
		code                            string
	}{
		{"no token", "", "GET", "/v1/objects/board/1/c", "", 401, protocol.Unauthorized},
		{"no token, write", "", "POST", "/v1/objects/board/1/c", inc, 401, protocol.Unauthorized},
		{"no token, digest", "", "GET", "/v1/digest", "", 401, protocol.Unauthorized},
		{"garbage token", "xyz", "GET", "/v1/digest", "", 401, protocol.Unauthorized},
		{"expired token", expired, "GET", "/v1/objects/board/1/c", "", 401, protocol.TokenExpired},
		{"board/1 writes board/1", board1, "POST", "/v1/objects/board/1/c", inc, 200, ""},
		{"board/1 reads board/1", board1, "GET", "/v1/objects/board/1/c", "", 200, ""},
		{"board/1 cannot write board/2", board1, "POST", "/v1/objects/board/2/c", inc, 403, protocol.Forbidden},
		{"board/1 cannot read board/2", board1, "GET", "/v1/objects/board/2/c", "", 403, protocol.Forbidden},
		{"read-only cannot write", readOnly, "POST", "/v1/objects/board/1/c", inc, 403, protocol.Forbidden},
		{"read-only reads", readOnly, "GET", "/v1/objects/board/1/c", "", 200, ""},
		{"any token reads the digest", board1, "GET", "/v1/digest", "", 200, ""},
		{"not admin", readOnly, "GET", "/v1/admin/faults", "", 403, protocol.Forbidden},
		{"not admin, heal", board1, "POST", "/v1/admin/heal", "", 403, protocol.Forbidden},
		{"admin", admin, "GET", "/v1/admin/faults", "", 200, ""},
		{"admin heals", admin, "POST", "/v1/admin/heal", "", 200, ""},
		{"admin has no object rights", admin, "GET", "/v1/objects/board/1/c", "", 403, protocol.Forbidden},
		{"healthz is open", "", "GET", "/healthz", "", 200, ""},
		{"readyz is open", "", "GET", "/readyz", "", 200, ""},
	}
	for _, tc := range cases {
		before := f.digest()
		req, err := http.NewRequest(tc.method, f.srv.URL+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		status, m := doReq(t, req)
		if status != tc.status || errCode(m) != tc.code {
			t.Errorf("%s: %d %v, want %d %s", tc.name, status, m, tc.status, tc.code)
		}
		if tc.status != 200 && f.digest() != before {
			t.Errorf("%s: a refused request changed the state", tc.name)
		}
	}
	if got := metricValue(t, f.n, "lattice_auth_failures_total", "endpoint=http", "reason=missing"); got != 3 {
		t.Errorf("lattice_auth_failures_total{endpoint=http,reason=missing} = %v, want 3", got)
	}
	if got := metricValue(t, f.n, "lattice_auth_failures_total", "endpoint=http", "reason=forbidden"); got != 6 {
		t.Errorf("lattice_auth_failures_total{endpoint=http,reason=forbidden} = %v, want 6", got)
	}
}

// TestWSAuth: the upgrade, hello, subscriptions and deltas are each
// checked against the token.
func TestWSAuth(t *testing.T) {
	a := newTestAuth(t)
	s := startWSNode(t, testConfig(t, "n"), WSOptions{Auth: a.auth}, nil)
	now := time.Now().UnixMilli()
	bearerDial := func(tok string) *testWS {
		t.Helper()
		d := *websocket.DefaultDialer
		c, _, err := d.Dial(s.url, http.Header{"Authorization": {"Bearer " + tok}})
		if err != nil {
			t.Fatal(err)
		}
		return wrapWS(t, c)
	}

	t.Run("no token", func(t *testing.T) {
		w := dialWS(t, s.url, true)
		w.send(map[string]any{"t": "hello", "v": 1, "replica": w.replica.String()})
		if code := w.closeCode(); code != protocol.CloseUnauthorized {
			t.Fatalf("close %d, want 4003", code)
		}
	})
	t.Run("bad token at the upgrade is 401", func(t *testing.T) {
		for tok, code := range map[string]string{"garbage": protocol.Unauthorized, a.token(uuid.New(), []string{""}, nil, false, -time.Second): protocol.TokenExpired} {
			_, resp, err := websocket.DefaultDialer.Dial(s.url, http.Header{"Authorization": {"Bearer " + tok}})
			if err == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("upgrade with a bad token: %v", err)
			}
			if !strings.Contains(readBody(t, resp), code) {
				t.Errorf("upgrade with a bad token does not say %s", code)
			}
		}
	})
	t.Run("expired token in hello", func(t *testing.T) {
		w := dialWS(t, s.url, true)
		w.send(map[string]any{"t": "hello", "v": 1, "replica": w.replica.String(), "token": a.token(w.replica, []string{""}, nil, false, -time.Second)})
		if code := w.closeCode(); code != protocol.CloseTokenExpired {
			t.Fatalf("close %d, want 4004", code)
		}
	})
	t.Run("token of another replica", func(t *testing.T) {
		w := dialWS(t, s.url, true)
		w.send(map[string]any{"t": "hello", "v": 1, "replica": w.replica.String(), "token": a.token(uuid.New(), []string{""}, []string{""}, false, time.Minute)})
		if code := w.closeCode(); code != protocol.CloseUnauthorized {
			t.Fatalf("close %d, want 4003", code)
		}
	})
	t.Run("token in the query", func(t *testing.T) {
		r := uuid.New()
		tok := a.token(r, []string{""}, nil, false, time.Minute)
		c, _, err := websocket.DefaultDialer.Dial(s.url+"?token="+url.QueryEscape(tok), nil)
		if err != nil {
			t.Fatal(err)
		}
		w := wrapWS(t, c)
		w.replica = r
		w.hello(nil)
	})
	t.Run("read-only token cannot write", func(t *testing.T) {
		r := uuid.New()
		w := bearerDial(a.token(r, []string{""}, nil, false, time.Minute))
		w.replica = r
		w.hello(nil)
		before := wsDigestExcept(t, s.n, "\xff")
		d := clientDelta(t, crdt.NewObject(), r, now, wsInc)
		w.send(map[string]any{"t": "delta", "id": 1, "key": "board/1/c", "delta": wsDeltaJSON(t, d)})
		w.expectError(protocol.Forbidden, 1)
		w.send(map[string]any{"t": "sub", "id": 2, "prefix": ""})
		w.expect("snapshot")
		if wsDigestExcept(t, s.n, "\xff") != before {
			t.Fatal("a refused delta changed the state")
		}
	})
	t.Run("board/1 token", func(t *testing.T) {
		r := uuid.New()
		tok := a.token(r, []string{"board/1/"}, []string{"board/1/"}, false, time.Minute)
		w := dialWS(t, s.url, true)
		w.replica = r
		w.hello(map[string]any{"token": tok})
		for i, sub := range []map[string]any{{"prefix": "board/2/"}, {"prefix": "board/"}, {"prefix": ""}, {"key": "board/2/c"}} {
			sub["t"], sub["id"] = "sub", 10+i
			w.send(sub)
			w.expectError(protocol.Forbidden, 10+i)
		}
		d := clientDelta(t, crdt.NewObject(), r, now, wsInc)
		w.send(map[string]any{"t": "delta", "id": 20, "key": "board/2/c", "delta": wsDeltaJSON(t, d)})
		w.expectError(protocol.Forbidden, 20)
		if wsCounter(t, s.n, "board/2/c") != 0 {
			t.Fatal("board/2/c was written")
		}
		w.send(map[string]any{"t": "sub", "id": 1, "prefix": "board/1/"})
		w.expect("snapshot")
		w.send(map[string]any{"t": "delta", "id": 21, "key": "board/1/c", "delta": wsDeltaJSON(t, d)})
		for {
			m := w.nextJSON()
			if m["t"] == "ack" {
				break
			}
			if m["t"] != "delta" {
				t.Fatalf("got %v, want the ack", m)
			}
		}
		if wsCounter(t, s.n, "board/1/c") != 1 {
			t.Fatal("board/1/c was not written")
		}
	})
	if got := metricValue(t, s.n, "lattice_auth_failures_total", "endpoint=ws", "reason=forbidden"); got < 6 {
		t.Errorf("lattice_auth_failures_total{endpoint=ws,reason=forbidden} = %v, want at least 6", got)
	}
}

// TestWSTokenExpiresMidSession: a session closes with 4004 when its token
// expires; the client reconnects with a new token and its cursor and is
// caught up with what it missed.
func TestWSTokenExpiresMidSession(t *testing.T) {
	a := newTestAuth(t)
	s := startWSNode(t, testConfig(t, "n"), WSOptions{Auth: a.auth}, nil)
	ctx := t.Context()
	r := uuid.New()
	// JWT expiry has a resolution of a second: this one ends in 1 to 2 s.
	short := a.token(r, []string{"doc/"}, []string{"doc/"}, false, 2*time.Second)
	w := dialWS(t, s.url, true)
	w.replica = r
	w.hello(map[string]any{"token": short})
	w.send(map[string]any{"t": "sub", "id": 1, "prefix": "doc/"})
	v := newWSView()
	v.readUntil(t, w, func() bool { return v.kinds["snapshot"] == 1 })
	if _, err := s.n.Apply(ctx, "doc/c", wsInc); err != nil {
		t.Fatal(err)
	}
	v.readUntil(t, w, func() bool { return v.kinds["delta"] == 1 })
	start := time.Now()
	if code := w.closeCode(); code != protocol.CloseTokenExpired {
		t.Fatalf("close %d (%v), want 4004", code, w.err)
	}
	t.Logf("closed %v after the first delta", time.Since(start).Round(time.Millisecond))
	if _, err := s.n.Apply(ctx, "doc/c", wsInc); err != nil { // missed while away
		t.Fatal(err)
	}
	w2 := dialWS(t, s.url, true)
	w2.replica = r
	cursor := map[string]uint64{}
	for k, n := range v.cursor {
		cursor[k] = n
	}
	w2.hello(map[string]any{"token": a.token(r, []string{"doc/"}, []string{"doc/"}, false, time.Minute), "cursor": cursor})
	w2.send(map[string]any{"t": "sub", "id": 1, "prefix": "doc/"})
	v.readUntil(t, w2, func() bool { return v.kinds["catchup"] == 1 })
	if v.kinds["snapshot"] != 1 || !v.same(t, s.n, "doc/c") {
		t.Fatalf("the resumed session did not catch up: %v", v.kinds)
	}
}

// wrapWS reads a dialed connection's frames like dialWS does.
func wrapWS(t *testing.T, c *websocket.Conn) *testWS {
	w := &testWS{t: t, c: c, replica: uuid.New(), in: make(chan wsFrame, 1000), done: make(chan struct{})}
	t.Cleanup(func() { c.Close() })
	go w.readFrames()
	return w
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

func doReq(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	m := decodeWS(t, []byte(readBody(t, resp)))
	return resp.StatusCode, m
}

// FuzzVerifyToken: tokens are untrusted bytes handed to the JWT parser;
// whatever they are, Verify returns an error or a grant, never panics, and
// only a token the test's key signed passes.
func FuzzVerifyToken(f *testing.F) {
	a := newTestAuth(f)
	f.Add(a.token(uuid.New(), []string{"board/1/"}, []string{"board/1/"}, true, time.Hour))
	f.Add(a.token(uuid.Nil, nil, nil, false, time.Hour))
	f.Add("eyJhbGciOiJub25lIn0.eyJleHAiOjk5OTk5OTk5OTl9.")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		g, err := a.auth.Verify(tok)
		if err == nil && (g == nil || g.Expires.Before(time.Now())) {
			t.Fatalf("%q verified as %+v", tok, g)
		}
	})
}
