// Package testkit is the test machinery the packages of this module share:
// the logged, replayable seed (seed.go), waiting for a condition with a
// generous deadline instead of sleeping (eventually.go), real `lattice
// serve` processes on loopback addresses (binary.go, proc.go, http.go),
// and Jepsen-style histories with the checkers that judge a node's final
// state against them (history.go, check_*.go).
//
// It is imported by _test.go files only and must never be imported by
// code that ships in the binary: it builds binaries, starts processes and
// imports testing. It must not import node or any package that tests use
// it from (node's in-package tests import it), so its histories speak in
// plain field names and values, not in crdt or node types.
package testkit
