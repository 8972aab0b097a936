// The y-websocket server as Debian's node-y-websocket ships it
// (bin/server.js: ws + setupWSConnection), on 127.0.0.1 and a free port,
// which it prints as "listening <port>". `lattice bench` runs it as the
// Yjs side of the fan-out scenario. NODE_PATH must reach /usr/share/nodejs.
'use strict'
const WebSocket = require('ws')
const http = require('http')
const { setupWSConnection } = require('y-websocket/bin/utils')

const wss = new WebSocket.Server({ noServer: true })
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain' })
  res.end('okay')
})
wss.on('connection', setupWSConnection)
server.on('upgrade', (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, ws => wss.emit('connection', ws, req))
})
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  console.log('listening ' + server.address().port)
})
process.stdin.on('end', () => process.exit(0))
process.stdin.resume()
