// Package js embeds the Lattice JavaScript client (lattice.js, crdt.js, the
// modules they import, counter_leaf.js among them, and their type
// declarations) so that Go programs, the web demo among them, can serve it
// without a build step.
package js

import "embed"

// Files holds every module (lattice.js, crdt.js and the modules they import)
// and index.d.ts at the root.
//
//go:embed *.js *.d.ts
var Files embed.FS
