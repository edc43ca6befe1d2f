'use strict'
// Tests of core.cjs: argument and environment parsing, write bytes, the
// stream table, and the command loop (in a child process, whose stdout is the
// event stream).
//   node --test conformance/adapters/js-common/
const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const path = require('node:path')
const core = require('./core.cjs')

// Runs `body` in a child process with `core` loaded and `lines` on its stdin:
// { status, stderr, events (stdout's lines as objects), byId(id) }.
function runChild (body, lines) {
  const src = `const core = require(${JSON.stringify(path.join(__dirname, 'core.cjs'))})\n${body}`
  const input = lines.join('\n') + '\n'
  const r = spawnSync(process.execPath, ['-e', src], { input, encoding: 'utf8', timeout: 10000 })
  const events = r.stdout.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l))
  return { status: r.status, stderr: r.stderr, events, byId: (id) => events.find((e) => e.id === id) }
}

test('parseArgs: role and address, both spellings', () => {
  assert.deepEqual(core.parseArgs(['--role', 'server', '--addr', '127.0.0.1:0']).ok,
    { role: 'server', host: '127.0.0.1', port: 0 })
  assert.deepEqual(core.parseArgs(['--role=client', '--addr=[::1]:4001']).ok,
    { role: 'client', host: '::1', port: 4001 })
})

test('parseArgs: 89 for an unknown option or role, 2 for usage errors', () => {
  assert.equal(core.parseArgs(['--role', 'bogus', '--addr', 'h:1']).exit, 89)
  assert.equal(core.parseArgs(['--frob', 'x']).exit, 89)
  assert.equal(core.parseArgs(['--role', 'server']).exit, 2)
  assert.equal(core.parseArgs(['--role', 'server', '--addr']).exit, 2)
  assert.equal(core.parseArgs(['--role', 'server', '--addr', 'nohost']).exit, 2)
})

test('writeBytes: hex, pattern, neither', () => {
  assert.deepEqual([...core.writeBytes({ hex: '00ff10' })], [0, 255, 16])
  const p = core.writeBytes({ len: 253 })
  assert.equal(p.length, 253)
  assert.deepEqual([p[0], p[250], p[251], p[252]], [0, 250, 0, 1])
  assert.throws(() => core.writeBytes({ hex: 'abc' }), /not valid hex/)
  assert.throws(() => core.writeBytes({}), /needs "hex" or "len"/)
})

test('getStream and forStreams', () => {
  const streams = new Map([[1, { n: 1 }], [3, { n: 3 }]])
  assert.equal(core.getStream(streams, { stream: 3 }).n, 3)
  assert.throws(() => core.getStream(streams, { stream: 5 }), /unknown stream 5/)
  assert.throws(() => core.getStream(streams, {}), /missing "stream"/)
  const seen = []
  let defaulted = false
  core.forStreams(streams, {}, (st) => seen.push(st.n), () => { defaulted = true })
  assert.deepEqual(seen, [1, 3])
  assert.equal(defaulted, true)
  core.forStreams(streams, { stream: 1 }, (st) => seen.push(st.n), () => assert.fail('no default'))
  assert.deepEqual(seen, [1, 3, 1])
})

test('runCommands: replies in the contract shape, exits 0 at EOF', () => {
  const r = runChild(`
    core.runCommands({
      async hello (cmd) { return { echo: cmd.x } },
      async nope () { return { unsupported: 'not here' } },
      async boom () { throw new Error('bad') }
    })
  `, [
    '{"id":1,"cmd":"hello","x":7}',
    '',
    'not json',
    '5',
    '{"id":2,"cmd":"nope"}',
    '{"id":3,"cmd":"boom"}',
    '{"id":4,"cmd":"frobnicate"}'
  ])
  assert.equal(r.status, 0, `stderr: ${r.stderr}`)
  assert.deepEqual(r.byId(1), { event: 'ok', id: 1, echo: 7 })
  assert.deepEqual(r.byId(2), { event: 'unsupported', id: 2, message: 'not here' })
  assert.deepEqual(r.byId(3), { event: 'error', id: 3, message: 'bad' })
  assert.deepEqual(r.byId(4), { event: 'unsupported', id: 4, message: 'unknown command "frobnicate"' })
  assert.equal(r.events.filter((e) => e.event === 'log').length, 2)
})

test('parseEnv: unset or empty variables, keep-alive, window, max streams', () => {
  const opts = { minWindow: 256 * 1024, windowWhy: 'the implementation accepts' }
  const none = { keepAlive: undefined, window: undefined, maxStreams: undefined }
  assert.deepEqual(core.parseEnv({}, opts).ok, none)
  assert.deepEqual(core.parseEnv({ YAMUX_WINDOW: '', YAMUX_MAX_STREAMS: '', YAMUX_KEEPALIVE: '' }, opts).ok, none)
  assert.equal(core.parseEnv({ YAMUX_KEEPALIVE: '0' }, opts).ok.keepAlive, false)
  assert.equal(core.parseEnv({ YAMUX_KEEPALIVE: '30' }, opts).ok.keepAlive, undefined)
  assert.deepEqual(core.parseEnv({ YAMUX_WINDOW: '262144', YAMUX_MAX_STREAMS: '5000' }, opts).ok,
    { keepAlive: undefined, window: 262144, maxStreams: 5000 })
  assert.equal(core.parseEnv({ YAMUX_WINDOW: '4294967295' }, opts).ok.window, 2 ** 32 - 1)
  assert.equal(core.parseEnv({ YAMUX_MAX_STREAMS: '0' }, opts).ok.maxStreams, 0)
})

test('parseEnv: 89 for a window out of range, 2 for a bad stream count', () => {
  const opts = { minWindow: 256 * 1024, windowWhy: 'the implementation needs' }
  for (const w of ['262143', '4294967296', '300000.5', 'big', '-1']) {
    assert.deepEqual(core.parseEnv({ YAMUX_WINDOW: w }, opts),
      { exit: 89, message: `YAMUX_WINDOW=${w} is not supported (the implementation needs 262144..4294967295)` })
  }
  for (const n of ['-1', '1.5', 'many']) {
    assert.deepEqual(core.parseEnv({ YAMUX_MAX_STREAMS: n }, opts), { exit: 2, message: `YAMUX_MAX_STREAMS=${n} is not a number` })
  }
  // The window is checked first.
  assert.equal(core.parseEnv({ YAMUX_WINDOW: '1', YAMUX_MAX_STREAMS: 'x' }, opts).exit, 89)
})

test('streamTable: add, get, and the read / echo flag commands', async () => {
  const calls = []
  const t = core.streamTable({
    ready: Promise.resolve(),
    write: async () => assert.fail('no write'),
    close: async () => assert.fail('no close'),
    pause: (st) => calls.push(['pause', st.id]),
    resume: (st) => calls.push(['resume', st.id]),
    extraDefaults: { accept: true }
  })
  assert.deepEqual(t.defaults, { accept: true, read: true, echo: true })
  const a = t.add(1, 'stream-1', true, { eof: false })
  const b = t.add(2, 'stream-2', false, {})
  assert.deepEqual(a, { id: 1, stream: 'stream-1', inbound: true, echo: true, eof: false })
  assert.equal(b.echo, false, 'a stream the adapter opened is not echoed')
  assert.equal(t.get({ stream: 2 }), b)
  assert.equal(t.streams.size, 2)
  assert.throws(() => t.get({ stream: 9 }), /unknown stream 9/)

  assert.deepEqual(await t.handlers['no-read']({}), {})
  assert.equal(t.defaults.read, false)
  assert.deepEqual(await t.handlers.read({ stream: 2 }), {})
  assert.equal(t.defaults.read, false, 'one stream leaves the default alone')
  assert.deepEqual(calls, [['pause', 1], ['pause', 2], ['resume', 2]])
  await assert.rejects(t.handlers.read({ stream: 9 }), /unknown stream 9/)

  await t.handlers['no-echo']({})
  assert.deepEqual([a.echo, b.echo, t.defaults.echo], [false, false, false])
  await t.handlers.echo({})
  assert.deepEqual([a.echo, b.echo, t.defaults.echo], [true, false, true], 'echo for all: inbound streams only')
  await t.handlers.echo({ stream: 2 })
  assert.equal(b.echo, true, 'echo for one stream: also one the adapter opened')
  await t.handlers['no-echo']({ stream: 1 })
  assert.deepEqual([a.echo, t.defaults.echo], [false, true])
  assert.equal(t.add(3, 'stream-3', true, {}).echo, true)
})

test('runAdapter: the shared commands, sessionLife: one closed event, ready after setUp', () => {
  const r = runChild(`
    const life = core.sessionLife()
    core.runAdapter({
      async wait () { await life.ready; return { waited: true } },
      async up () { life.setUp(); return {} },
      async close (cmd) { life.closed(cmd.reason); return {} },
      async boom () { throw Object.assign(new Error('bad'), { name: 'X' }) }
    }, {
      logErr: () => {},
      sessions: { acceptSessions: async (cmd) => ({ allowed: cmd.count }) },
      bench: { handlers: { rss: async () => ({ rss_bytes: 1 }) } },
      errorMessage: (err) => err.name + ': ' + err.message
    })
  `, [
    { cmd: 'wait' },
    { cmd: 'accept-sessions', count: 3 },
    { cmd: 'rss' },
    { cmd: 'boom' },
    { cmd: 'close', reason: 'first' },
    { cmd: 'close', reason: 'second' },
    { cmd: 'up' }
  ].map((c, i) => JSON.stringify({ id: i + 1, ...c })))
  assert.equal(r.status, 0, `stderr: ${r.stderr}`)
  assert.deepEqual(r.byId(2), { event: 'ok', id: 2, allowed: 3 })
  assert.deepEqual(r.byId(3), { event: 'ok', id: 3, rss_bytes: 1 })
  assert.deepEqual(r.byId(4), { event: 'error', id: 4, message: 'X: bad' })
  assert.deepEqual(r.events.filter((e) => e.event === 'closed'), [{ event: 'closed', reason: 'first' }])
  const waited = r.events.findIndex((e) => e.id === 1)
  assert.deepEqual(r.events[waited], { event: 'ok', id: 1, waited: true })
  assert.ok(waited > r.events.findIndex((e) => e.id === 7), 'wait is answered after up')
})

test('runAdapter: the crash command ends the process as a crash', () => {
  const r = runChild(`
    // Stays up after stdin ends, so only the crash can end it.
    core.runAdapter({}, { logErr: () => {}, sessions: {}, bench: { handlers: {} }, onEnd: () => {} })
    setTimeout(() => process.exit(0), 5000)
  `, ['{"id":1,"cmd":"crash"}'])
  assert.equal(r.status, 7, `stderr: ${r.stderr}`)
  assert.equal(r.events[0].event, 'crash')
})

test('streamTable: write and close wait for the session, then run on the stream named', async () => {
  let setUp
  const calls = []
  const t = core.streamTable({
    ready: new Promise((resolve) => { setUp = resolve }),
    write: async (st, bytes) => { calls.push(['write', st.id, bytes.toString('hex')]) },
    close: async (st) => { calls.push(['close', st.id]) },
    pause () {},
    resume () {}
  })
  t.add(5, null, true, {})
  const wrote = t.handlers.write({ stream: 5, hex: '0102' })
  const closed = t.handlers.close({ stream: 5 })
  const bad = t.handlers.write({ stream: 5 })
  const unknown = t.handlers.close({ stream: 6 })
  await new Promise((resolve) => setImmediate(resolve))
  assert.deepEqual(calls, [], 'nothing before the session is set up')
  setUp()
  assert.deepEqual(await wrote, { len: 2 })
  assert.deepEqual(await closed, {})
  await assert.rejects(bad, /write needs "hex" or "len"/)
  await assert.rejects(unknown, /unknown stream 6/)
  assert.deepEqual(calls, [['write', 5, '0102'], ['close', 5]])
})
