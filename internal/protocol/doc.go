// Package protocol is the one definition of the client protocol's names:
// the version, the message types, the WebSocket close codes and every error
// code the node answers over HTTP and WebSocket, with what a client does on
// each. docs/protocol.md and docs/api.md describe them; tests in node/ check
// the documents against these tables.
//
// The node, the Go client and the benchmark import it, so that a name is
// written once. It holds names and tables only: no encoding, no I/O, and it
// must not import node/ or clients/. The JavaScript client cannot import it;
// clients/js's tests check its lists against these tables.
package protocol
