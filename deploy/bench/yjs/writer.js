// A Yjs client that makes map sets and sends them to a y-websocket server
// exactly as y-websocket's WebsocketProvider does (messageSync, then
// messageYjsUpdate with the update). Driven over stdin/stdout by
// `lattice bench`:
//   prep N   make N sets now (field f<i mod 102> = i mod 100) and keep
//            their messages; answers "ready"
//   go       send them all; answers "sent"
// Usage: node writer.js ws://127.0.0.1:PORT/doc
'use strict'
const WebSocket = require('ws')
const Y = require('yjs')
const encoding = require('lib0/dist/encoding.cjs')
const readline = require('readline')

const doc = new Y.Doc()
const map = doc.getMap('m')
let pending = []
let count = 0
doc.on('update', (update, origin) => {
  if (origin === 'remote') return
  const enc = encoding.createEncoder()
  encoding.writeVarUint(enc, 0) // messageSync
  encoding.writeVarUint(enc, 2) // messageYjsUpdate
  encoding.writeVarUint8Array(enc, update)
  pending.push(encoding.toUint8Array(enc))
})

const ws = new WebSocket(process.argv[2])
ws.binaryType = 'arraybuffer'
ws.on('error', e => { console.error(String(e)); process.exit(1) })
ws.on('open', () => {
  console.log('open')
  const rl = readline.createInterface({ input: process.stdin })
  rl.on('line', line => {
    const [cmd, arg] = line.trim().split(/\s+/)
    if (cmd === 'prep') {
      pending = []
      const n = Number(arg)
      for (let i = 0; i < n; i++, count++) map.set('f' + (count % 102), count % 100)
      console.log('ready ' + pending.length)
    } else if (cmd === 'go') {
      for (const m of pending) ws.send(m)
      console.log('sent')
    }
  })
  rl.on('close', () => { ws.close(); process.exit(0) })
})
