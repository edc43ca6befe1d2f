'use strict'
// Tests of core.cjs: argument parsing, write bytes, the stream-table helpers,
// and the command loop (in a child process, whose stdout is the event stream).
//   node --test conformance/adapters/js-common/
const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const path = require('node:path')
const core = require('./core.cjs')

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
  const lib = JSON.stringify(path.join(__dirname, 'core.cjs'))
  const src = `
    const core = require(${lib})
    core.runCommands({
      async hello (cmd) { return { echo: cmd.x } },
      async nope () { return { unsupported: 'not here' } },
      async boom () { throw new Error('bad') }
    })
  `
  const input = [
    '{"id":1,"cmd":"hello","x":7}',
    '',
    'not json',
    '5',
    '{"id":2,"cmd":"nope"}',
    '{"id":3,"cmd":"boom"}',
    '{"id":4,"cmd":"frobnicate"}'
  ].join('\n') + '\n'
  const r = spawnSync(process.execPath, ['-e', src], { input, encoding: 'utf8', timeout: 10000 })
  assert.equal(r.status, 0, `stderr: ${r.stderr}`)
  const ev = r.stdout.trim().split('\n').map((l) => JSON.parse(l))
  const byId = (id) => ev.find((e) => e.id === id)
  assert.deepEqual(byId(1), { event: 'ok', id: 1, echo: 7 })
  assert.deepEqual(byId(2), { event: 'unsupported', id: 2, message: 'not here' })
  assert.deepEqual(byId(3), { event: 'error', id: 3, message: 'bad' })
  assert.deepEqual(byId(4), { event: 'unsupported', id: 4, message: 'unknown command "frobnicate"' })
  assert.equal(ev.filter((e) => e.event === 'log').length, 2)
})
