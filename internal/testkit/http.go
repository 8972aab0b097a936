package testkit

// Talking to nodes over their HTTP API.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// NewClient is an HTTP client for talking to nodes. Go never retries a
// POST by itself, so one call is one attempt: the counters' upper bounds
// depend on that.
func NewClient() *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 32},
	}
}

// GetJSON GETs url into v, failing on any status but 200.
func GetJSON(ctx context.Context, c *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return &StatusError{resp.StatusCode, strings.TrimSpace(string(body))}
	}
	return json.Unmarshal(body, v)
}

// StatusError is an answer other than 200 to GetJSON.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Code, e.Body) }

// Post POSTs a JSON body and returns the status and body.
func Post(ctx context.Context, c *http.Client, url string, body any) (int, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// NeverSent reports whether a request's error proves it never reached the
// node: the connection was refused, so no byte of it was written.
func NeverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// ClusterInfo is the part of GET /v1/cluster the tests read.
type ClusterInfo struct {
	Name    string `json:"name"`
	ID      string `json:"id"`
	HTTP    string `json:"http"`
	Members []struct {
		Name      string `json:"name"`
		Reachable bool   `json:"reachable"`
	} `json:"members"`
}

// DigestInfo is GET /v1/digest.
type DigestInfo struct {
	Digest  string            `json:"digest"`
	Objects int               `json:"objects"`
	VV      map[string]uint64 `json:"vv"`
}
