'use strict'
// Tests of sessions.cjs over real TCP on 127.0.0.1 (no implementation):
//   node --test conformance/adapters/js-common/
const test = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const { createSessions, echo } = require('./sessions.cjs')

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
