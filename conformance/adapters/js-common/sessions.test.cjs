'use strict'
// Tests of sessions.cjs over real TCP on 127.0.0.1 (no implementation); the
// transport (which prints `ready` and may exit) runs in a child process:
//   node --test conformance/adapters/js-common/
const test = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { createSessions, echo, hostPort } = require('./sessions.cjs')

// A listener wired to createSessions; the first and extra sockets are kept.
async function setup () {
  const got = { first: [], extra: [], logs: [] }
  const sessions = createSessions({
    server: true,
    startFirst: (s) => { got.first.push(s) },
    startExtra: (s) => { got.extra.push(s) },
    logErr: (line) => { got.logs.push(line) }
  })
  const server = net.createServer(sessions.onConnection)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = server.address().port
  const sockets = []
  const t = {
    got,
    sessions,
    // Connects and resolves once the server has handled the connection:
    // { socket, closed } with closed a Promise of the server closing it.
    async connect () {
      const before = got.first.length + got.extra.length + sessions.stats().refused
      const socket = net.connect(port, '127.0.0.1')
      sockets.push(socket)
      socket.on('error', () => {})
      socket.resume()
      const closed = new Promise((resolve) => socket.once('close', resolve))
      await new Promise((resolve) => socket.once('connect', resolve))
      while (got.first.length + got.extra.length + sessions.stats().refused === before) {
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
      return { socket, closed }
    },
    async close () {
      for (const s of [...sockets, ...got.first, ...got.extra]) s.destroy()
      await new Promise((resolve) => server.close(resolve))
    }
  }
  return t
}

test('the first connection is the session, later ones are refused until accept-sessions', async () => {
  const t = await setup()
  try {
    await t.connect()
    assert.equal(t.got.first.length, 1)
    const early = await t.connect()
    await early.closed // destroyed by the server
    assert.equal(t.got.extra.length, 0)
    assert.equal(t.sessions.stats().refused, 1)
    assert.equal(t.got.first[0].destroyed, false, 'the first session is left alone')
  } finally {
    await t.close()
  }
})

test('accept-sessions accepts exactly count more, cumulatively, then refuses', async () => {
  const t = await setup()
  try {
    await t.connect()
    assert.deepEqual(await t.sessions.acceptSessions({ count: 2 }), {})
    await t.connect()
    await t.connect()
    assert.equal(t.got.extra.length, 2)
    for (const s of t.got.extra) assert.equal(s.destroyed, false)
    const late = await t.connect()
    await late.closed
    assert.equal(t.got.extra.length, 2)
    assert.deepEqual(await t.sessions.acceptSessions({ count: 1 }), {})
    await t.connect()
    assert.equal(t.got.extra.length, 3)
    assert.equal(t.got.first.length, 1)
    const st = t.sessions.stats()
    assert.equal(st.accepted, 3)
    assert.equal(st.allowed, 0)
    assert.equal(st.open, 3)
    t.got.extra[0].destroy()
    while (t.sessions.stats().open !== 2) await new Promise((resolve) => setTimeout(resolve, 5))
  } finally {
    await t.close()
  }
})

test('bad counts are errors; the client role answers unsupported', async () => {
  const t = await setup()
  try {
    for (const count of [undefined, -1, 1.5, '2', null]) {
      await assert.rejects(t.sessions.acceptSessions({ count }), /`count` must be a non-negative integer/)
    }
    assert.deepEqual(await t.sessions.acceptSessions({ count: 0 }), {})
    assert.equal(t.sessions.stats().allowed, 0)
  } finally {
    await t.close()
  }
  const client = createSessions({ server: false, startFirst () {}, startExtra () {}, logErr () {} })
  const r = await client.acceptSessions({ count: 1 })
  assert.equal(typeof r.unsupported, 'string')
})

test('echo writes back every byte and half-closes after the FIN', async () => {
  // a bench stream whose peer is this test
  const written = []
  let ended = false
  let h = null
  const bs = {
    write (data) { written.push(Buffer.from(data)); return written.length % 2 === 0 ? Promise.resolve() : undefined },
    async end () { ended = true },
    listen (handlers) { h = handlers },
    pause () {},
    resume () {}
  }
  echo(bs)
  h.data(Buffer.from('abc'))
  h.data(Buffer.from('de'))
  assert.equal(ended, false)
  h.end()
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(Buffer.concat(written).toString(), 'abcde')
  assert.equal(ended, true)
})

test('hostPort brackets IPv6 hosts', () => {
  assert.equal(hostPort('127.0.0.1', 80), '127.0.0.1:80')
  assert.equal(hostPort('::1', 4001), '[::1]:4001')
})

// startTransport in a child process (it prints `ready` on stdout and exits
// on failure): each startFirst / startExtra socket is sent a line naming it;
// a line on its stdin allows one more session, answered by an `allowed` line.
// Returns { line(i) (a Promise of stdout's line i as an object, null if the
// child exits first), child, exited (a Promise of the code), stderr () }.
function transportChild (args) {
  const lib = JSON.stringify(path.join(__dirname, 'sessions.cjs'))
  const src = `
    const { startTransport } = require(${lib})
    const sessions = startTransport({
      args: ${JSON.stringify(args)},
      startFirst: (s) => s.end('first\\n'),
      startExtra: (s) => s.end('extra\\n'),
      logErr: (line) => process.stderr.write(line + '\\n')
    })
    process.stdin.on('data', async () => {
      await sessions.acceptSessions({ count: 1 })
      process.stdout.write('{"event":"allowed"}\\n')
    })
    process.stdin.on('end', () => process.exit(0))
  `
  const child = spawn(process.execPath, ['-e', src], { stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stderr.on('data', (d) => { err += d })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const waiters = []
  const wake = () => {
    const lines = out.split('\n').slice(0, -1)
    for (const w of waiters.splice(0)) {
      if (w.i < lines.length) w.resolve(JSON.parse(lines[w.i]))
      else waiters.push(w)
    }
  }
  child.stdout.on('data', (d) => { out += d; wake() })
  exited.then(() => { wake(); for (const w of waiters.splice(0)) w.resolve(null) })
  const line = (i) => new Promise((resolve) => { waiters.push({ i, resolve }); wake() })
  return { line, child, exited, stderr: () => err }
}

// Connects to HOST:PORT and resolves with what the other side wrote before closing.
function readAll (addr) {
  const m = /^(.*):(\d+)$/.exec(addr)
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(m[2]), m[1])
    let got = ''
    s.on('data', (d) => { got += d })
    s.on('error', reject)
    s.on('close', () => resolve(got))
  })
}

test('startTransport, server role: ready with the address, then the first session and allowed extra ones', async () => {
  const t = transportChild({ role: 'server', host: '127.0.0.1', port: 0 })
  try {
    const ready = await t.line(0)
    assert.equal(ready?.event, 'ready', `stderr: ${t.stderr()}`)
    assert.match(ready.addr, /^127\.0\.0\.1:\d+$/)
    assert.notEqual(ready.addr, '127.0.0.1:0')
    assert.equal(await readAll(ready.addr), 'first\n')
    assert.equal(await readAll(ready.addr), '', 'not allowed: destroyed')
    t.child.stdin.write('more\n')
    assert.deepEqual(await t.line(1), { event: 'allowed' })
    assert.equal(await readAll(ready.addr), 'extra\n')
    t.child.stdin.end()
    assert.equal(await t.exited, 0)
  } finally {
    t.child.kill()
  }
})

test('startTransport, client role: connects, then ready with the local address', async () => {
  const server = net.createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const got = new Promise((resolve) => {
    server.once('connection', (s) => {
      let data = ''
      s.on('data', (d) => { data += d })
      s.on('end', () => resolve({ data, peer: hostPort(s.remoteAddress, s.remotePort) }))
    })
  })
  const t = transportChild({ role: 'client', host: '127.0.0.1', port: server.address().port })
  try {
    const ready = await t.line(0)
    assert.equal(ready?.event, 'ready', `stderr: ${t.stderr()}`)
    const conn = await got
    assert.equal(conn.data, 'first\n')
    assert.equal(ready.addr, conn.peer)
    t.child.stdin.end()
    assert.equal(await t.exited, 0)
  } finally {
    t.child.kill()
    await new Promise((resolve) => server.close(resolve))
  }
})

test('startTransport: a failed connect ends the process with code 1', async () => {
  const server = net.createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = server.address().port
  await new Promise((resolve) => server.close(resolve))
  const t = transportChild({ role: 'client', host: '127.0.0.1', port })
  try {
    assert.equal(await t.line(0), null)
    assert.equal(await t.exited, 1)
    assert.match(t.stderr(), /connect failed/)
  } finally {
    t.child.kill()
  }
})
