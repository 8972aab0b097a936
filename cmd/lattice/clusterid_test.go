package main

import (
	"strings"
	"testing"
)

func TestSettleClusterID(t *testing.T) {
	dir := t.TempDir()
	if id, err := settleClusterID(dir, "", ""); id != "" || err != nil {
		t.Fatalf("nothing given, nothing recorded: %q, %v", id, err)
	}
	if id, err := settleClusterID(dir, "", "k-derived"); id != "k-derived" || err != nil {
		t.Fatalf("the fallback: %q, %v", id, err)
	}
	// Recorded: a later fallback (a rotated key) does not change it.
	if id, err := settleClusterID(dir, "", "k-other"); id != "k-derived" || err != nil {
		t.Fatalf("after recording: %q, %v", id, err)
	}
	if id, err := settleClusterID(dir, "k-derived", ""); id != "k-derived" || err != nil {
		t.Fatalf("the recorded id given: %q, %v", id, err)
	}
	if _, err := settleClusterID(dir, "prod", ""); err == nil || !strings.Contains(err.Error(), `belongs to cluster "k-derived"`) {
		t.Fatalf("another id for recorded data: %v", err)
	}
	fresh := t.TempDir()
	if id, err := settleClusterID(fresh, "prod", "k-derived"); id != "prod" || err != nil {
		t.Fatalf("--cluster-id wins over the fallback: %q, %v", id, err)
	}
}

func TestKeyClusterID(t *testing.T) {
	a, b := []byte("0123456789abcdef"), []byte("fedcba9876543210")
	if keyClusterID(nil) != "" {
		t.Error("no key, yet an id")
	}
	if keyClusterID([][]byte{a}) != keyClusterID([][]byte{a, b}) || keyClusterID([][]byte{a}) == keyClusterID([][]byte{b}) {
		t.Error("the id must follow the primary key, and only it")
	}
	if id := keyClusterID([][]byte{a}); strings.Contains(id, string(a)) || len(id) != 14 {
		t.Errorf("id %q", id)
	}
}
