package api

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/lattice-sync/lattice/crdt"
)

// Tokens (docs/security.md). A token is a JWT signed with Ed25519 (EdDSA):
// the operator's `lattice token` holds the private key and mints tokens;
// nodes hold only the public key and verify them. Ed25519 rather than HS256
// because a shared HMAC secret would let anyone who reads one node's
// configuration mint tokens for every node; with a public key a node's
// config is not a credential. Ed25519 signatures are small (64 bytes),
// fast to verify, and have no parameters to get wrong.

// Claims are what a token grants. The JSON names are the token's claims.
type Claims struct {
	// Replica is the client's replica UUID: the only replica whose dots
	// the client may mint, and the one its hello must name.
	Replica string `json:"replica,omitempty"`
	// Read lists key prefixes the client may read and subscribe to ("" is
	// every key). A subscription's prefix must start with one of them.
	Read []string `json:"read,omitempty"`
	// Write lists key prefixes the client may write.
	Write []string `json:"write,omitempty"`
	// Admin allows the admin endpoints (fault injection).
	Admin bool `json:"admin,omitempty"`
	// Subject (sub), expiry (exp), issued-at (iat) and id (jti).
	jwt.RegisteredClaims
}

// Sentinel errors of token verification. ErrTokenExpired is apart so that
// clients can tell "get a new token" from "this token is no good".
var (
	ErrTokenMissing = errors.New("auth: no token")
	ErrTokenInvalid = errors.New("auth: invalid token")
	ErrTokenExpired = errors.New("auth: token expired")
)

// Grant is a verified token.
type Grant struct {
	Subject string
	Replica crdt.ReplicaID // zero if the token names none
	Read    []string
	Write   []string
	Admin   bool
	Expires time.Time
}

// CanRead reports whether the grant covers reading key.
func (g *Grant) CanRead(key string) bool { return covered(g.Read, key) }

// CanWrite reports whether the grant covers writing key.
func (g *Grant) CanWrite(key string) bool { return covered(g.Write, key) }

// CanReadPrefix reports whether every key under prefix is readable: the
// prefix starts with one of the grant's read prefixes. A subscription to
// "board/" is refused to a token for "board/1/", although some keys under
// it would be readable, since the subscription would deliver the others.
func (g *Grant) CanReadPrefix(prefix string) bool { return covered(g.Read, prefix) }

func covered(prefixes []string, s string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// Authenticator verifies tokens. A nil *Authenticator in HTTPOptions or
// WSOptions means no auth: development mode.
type Authenticator struct {
	key ed25519.PublicKey
	now func() time.Time
}

// NewAuthenticator verifies tokens signed by the private half of pub.
func NewAuthenticator(pub ed25519.PublicKey) *Authenticator {
	return &Authenticator{key: pub, now: time.Now}
}

// MaxTokenLen bounds what the parser is given: a token is a few hundred
// bytes; one of kilobytes is garbage or an attack on the decoder.
const MaxTokenLen = 8 << 10

// Verify checks a token's signature, algorithm and expiry and returns what
// it grants. The error wraps ErrTokenMissing, ErrTokenExpired or
// ErrTokenInvalid.
func (a *Authenticator) Verify(token string) (*Grant, error) {
	if token == "" {
		return nil, ErrTokenMissing
	}
	if len(token) > MaxTokenLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrTokenInvalid, MaxTokenLen)
	}
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return a.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(a.now),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, ErrTokenExpired
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrTokenInvalid, err)
	}
	g := &Grant{Subject: c.Subject, Read: c.Read, Write: c.Write, Admin: c.Admin, Expires: c.ExpiresAt.Time}
	if c.Replica != "" {
		id, err := parseClientReplica(c.Replica)
		if err != nil {
			return nil, fmt.Errorf("%w: replica %q: %v", ErrTokenInvalid, c.Replica, err)
		}
		g.Replica = id
	}
	return g, nil
}

// bearer returns the token of an "Authorization: Bearer" header, or "".
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// MintToken signs c with priv. Set c.ExpiresAt: nodes refuse tokens
// without an expiry.
func MintToken(priv ed25519.PrivateKey, c Claims) (string, error) {
	if c.ExpiresAt == nil {
		return "", errors.New("auth: a token needs an expiry")
	}
	if c.Replica != "" {
		if _, err := parseClientReplica(c.Replica); err != nil {
			return "", fmt.Errorf("auth: replica %q: %v", c.Replica, err)
		}
	}
	if c.ID == "" {
		c.ID = uuid.NewString()
	}
	return jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SignedString(priv)
}

// Key files are PEM: "PRIVATE KEY" (PKCS #8) for the minting key,
// "PUBLIC KEY" (PKIX) for what nodes verify with.

// NewAuthKey makes a signing key pair and returns both halves as PEM.
func NewAuthKey() (privPEM, pubPEM []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	pk, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pk}), nil
}

// ParseAuthKey reads a PEM Ed25519 key. From a private key it returns both
// halves; from a public key, priv is nil.
func ParseAuthKey(b []byte) (pub ed25519.PublicKey, priv ed25519.PrivateKey, err error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, nil, errors.New("auth key: no PEM block")
	}
	switch blk.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("auth key: %w", err)
		}
		p, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, nil, fmt.Errorf("auth key: a %T, want Ed25519", k)
		}
		return p.Public().(ed25519.PublicKey), p, nil
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("auth key: %w", err)
		}
		p, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, nil, fmt.Errorf("auth key: a %T, want Ed25519", k)
		}
		return p, nil, nil
	}
	return nil, nil, fmt.Errorf("auth key: PEM block %q, want PUBLIC KEY or PRIVATE KEY", blk.Type)
}

// LoadAuthenticator reads a key file (public or private) for a node.
func LoadAuthenticator(path string) (*Authenticator, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pub, _, err := ParseAuthKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return NewAuthenticator(pub), nil
}
