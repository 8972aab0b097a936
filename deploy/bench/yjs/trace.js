// The Yjs side of the editing-trace benchmark (lattice bench -scenario
// trace). Reads the trace (../shared/data/editing-trace/edits.json.gz, by
// Kleppmann and Beresford, CC BY 4.0) from the path in argv[2] and replays
// it into a Y.Text, one transaction per edit; argv[3], if given, replays
// only that many edits. Prints one JSON object:
//   applyMs     local apply of every edit
//   mergeMs     every edit's update applied, in order, to a fresh doc
//   bytes       Y.encodeStateAsUpdate of the final doc
//   loadMs      Y.applyUpdate of that state into a fresh doc
//   heapBytes   heap used after the replay, with the updates dropped
//   ok          the final text equals the trace's (the whole trace only)
'use strict'
const Y = require('yjs')
const fs = require('fs')
const zlib = require('zlib')

function main (path, limit) {
  const trace = JSON.parse(zlib.gunzipSync(fs.readFileSync(path)).toString('utf8'))
  const whole = !(limit > 0) || limit >= trace.edits.length
  if (!whole) trace.edits = trace.edits.slice(0, limit)
  const doc = new Y.Doc()
  const text = doc.getText('t')
  const updates = []
  doc.on('update', u => updates.push(u))
  let t0 = process.hrtime.bigint()
  for (const e of trace.edits) {
    if (e[1] === 0) text.insert(e[0], e[2])
    else text.delete(e[0], 1)
  }
  const applyMs = Number(process.hrtime.bigint() - t0) / 1e6
  const ok = !whole || text.toString() === trace.finalText

  const fresh = new Y.Doc()
  t0 = process.hrtime.bigint()
  for (const u of updates) Y.applyUpdate(fresh, u)
  const mergeMs = Number(process.hrtime.bigint() - t0) / 1e6

  const state = Y.encodeStateAsUpdate(doc)
  const loaded = new Y.Doc()
  t0 = process.hrtime.bigint()
  Y.applyUpdate(loaded, state)
  loaded.getText('t').toString()
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6

  updates.length = 0
  fresh.destroy()
  loaded.destroy()
  if (global.gc) global.gc()
  const heapBytes = process.memoryUsage().heapUsed
  console.log(JSON.stringify({ applyMs, mergeMs, bytes: state.length, loadMs, heapBytes, ok, edits: trace.edits.length }))
  doc.destroy()
}

main(process.argv[2], Number(process.argv[3]))
