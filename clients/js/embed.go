// Package js embeds the Lattice JavaScript client (lattice.js, crdt.js with
// counter_leaf.js, and their type declarations) so that Go programs, the web
// demo among them, can serve it without a build step.
package js

import "embed"

// Files holds lattice.js, crdt.js and index.d.ts at the root.
//
//go:embed *.js *.d.ts
var Files embed.FS
