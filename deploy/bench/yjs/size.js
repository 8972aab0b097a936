// The Yjs side of the size and merge scenarios. Reads from stdin
//   {"writes": [[replica, field, value], ...], "reps": R}
// and plays the workload on three Y.Docs, each write delivered to the
// other two as it is made (Y.applyUpdate). Prints one JSON object:
//   updates     bytes of each write's update, summed
//   wire        bytes of each write's y-websocket message (messageSync,
//               messageYjsUpdate, the update), summed
//   state       Y.encodeStateAsUpdate of the converged doc, bytes
//   stateV2     the same with Y.encodeStateAsUpdateV2
//   applyRates  updates per second of Y.applyUpdate of every update, in
//               order, into a fresh doc, once per repetition
'use strict'
const Y = require('yjs')
const encoding = require('lib0/dist/encoding.cjs')

let input = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', d => { input += d })
process.stdin.on('end', () => main(JSON.parse(input)))

function main ({ writes, reps }) {
  const docs = [new Y.Doc(), new Y.Doc(), new Y.Doc()]
  const updates = []
  let upd = null
  const grab = u => { upd = u }
  let updateBytes = 0
  let wireBytes = 0
  for (const [r, field, value] of writes) {
    upd = null
    docs[r].on('update', grab)
    docs[r].getMap('m').set(field, value)
    docs[r].off('update', grab)
    updates.push(upd)
    updateBytes += upd.length
    const enc = encoding.createEncoder()
    encoding.writeVarUint(enc, 0)
    encoding.writeVarUint(enc, 2)
    encoding.writeVarUint8Array(enc, upd)
    wireBytes += encoding.length(enc)
    for (let j = 0; j < docs.length; j++) {
      if (j !== r) Y.applyUpdate(docs[j], upd, 'remote')
    }
  }
  const state = Y.encodeStateAsUpdate(docs[0]).length
  const stateV2 = Y.encodeStateAsUpdateV2(docs[0]).length
  const applyRates = []
  for (let i = 0; i < reps; i++) {
    const fresh = new Y.Doc()
    const t0 = process.hrtime.bigint()
    for (const u of updates) Y.applyUpdate(fresh, u)
    const secs = Number(process.hrtime.bigint() - t0) / 1e9
    applyRates.push(updates.length / secs)
    if (fresh.getMap('m').size !== docs[0].getMap('m').size) throw new Error('replay did not converge')
  }
  process.stdout.write(JSON.stringify({ n: updates.length, updates: updateBytes, wire: wireBytes, state, stateV2, applyRates }) + '\n')
}
