'use strict'
// Tests of bench.cjs over an in-memory stream pair (no implementation):
//   node --test conformance/adapters/js-common/
const test = require('node:test')
const assert = require('node:assert/strict')
const { createBench, rssBytes } = require('./bench.cjs')

// One end of an in-memory stream in the bench-stream interface. Delivery is
// asynchronous and in order; every third write reports back-pressure (a
// Promise), so both paths of the callers are used.
class End {
  constructor (opts) {
    this.opts = opts
    this.peer = null
    this.h = null
    this.early = []
    this.writes = 0
    this.written = 0
  }

  write (data) {
    const u8 = data instanceof Uint8Array ? data : data.subarray()
    const copy = Buffer.from(u8)
    this.written += copy.byteLength
    setImmediate(() => this.peer.deliver('data', copy))
    return ++this.writes % 3 === 0 ? new Promise((resolve) => setImmediate(resolve)) : undefined
  }

  async end () {
    setImmediate(() => this.peer.deliver('end'))
  }

  listen (h) {
    this.h = h
    for (const [k, x] of this.early.splice(0)) this.deliver(k, x)
  }

  deliver (kind, x) {
    if (this.h === null) {
      this.early.push([kind, x])
    } else if (kind === 'data') {
      if (!this.opts.dropData) this.h.data(x)
    } else if (!this.opts.dropFin) {
      this.h.end()
    }
  }

  pause () {}
  resume () {}
}

// A client bench whose open() makes a pair and gives the far end to the
// server bench, which serves it in its current mode.
function setup (opts = {}) {
  const server = createBench({ open: async () => { throw new Error('not used') } })
  const serverEnds = []
  const client = createBench({
    stallMs: 300,
    hints: { eof: 'the test drops FINs', write: 'the test stalls writes' },
    ...opts,
    async open () {
      const a = new End(opts)
      const b = new End(opts)
      a.peer = b
      b.peer = a
      serverEnds.push(b)
      server.serve(b)
      return a
    }
  })
  return { server, client, serverEnds }
}

test('bench-send: every stream gets the sink count back', async () => {
  const { server, client, serverEnds } = setup()
  await server.handlers['bench-serve']({ mode: 'sink' })
  const r = await client.handlers['bench-send']({ streams: 3, bytes: 100_000, write_size: 4096 })
  assert.equal(typeof r.elapsed_ms, 'number')
  assert.ok(r.elapsed_ms >= 0)
  assert.equal(serverEnds.length, 3)
  for (const e of serverEnds) assert.equal(e.written, 8) // the count, nothing else
})

test('bench-send: an answer that is not an 8-byte count is an error', async () => {
  const { server, client } = setup()
  await server.handlers['bench-serve']({ mode: 'echo' })
  await assert.rejects(client.handlers['bench-send']({ bytes: 1000, write_size: 100 }), /the sink answered 1000 bytes, not 8/)
})

test('bench-rr: percentiles over count round trips, warm-up excluded', async () => {
  const { server, client, serverEnds } = setup()
  await server.handlers['bench-serve']({ mode: 'echo' })
  const r = await client.handlers['bench-rr']({ count: 50, size: 64 })
  assert.equal(r.count, 50)
  assert.ok(r.p50_us > 0 && r.p50_us <= r.p99_us)
  assert.equal(serverEnds[0].written, (50 + 5) * 64) // 5 warm-up round trips
})

test('bench-open and bench-hold', async () => {
  const { server, client, serverEnds } = setup()
  await server.handlers['bench-serve']({ mode: 'echo' })
  const o = await client.handlers['bench-open']({ count: 20 })
  assert.equal(typeof o.elapsed_ms, 'number')
  assert.equal(serverEnds.length, 20)
  const h = await client.handlers['bench-hold']({ count: 5 })
  assert.equal(h.held, 5)
  assert.equal(serverEnds.length, 25)
})

test('a stalled command fails with where it stood and the hint', async () => {
  const { server, client } = setup({ dropFin: true })
  await server.handlers['bench-serve']({ mode: 'echo' })
  await assert.rejects(client.handlers['bench-open']({ count: 3 }),
    /^Error: nothing moved for 0\.3 s while half-closing and reading to EOF on stream 1 of 3; the test drops FINs$/)
  await assert.rejects(client.handlers['bench-rr']({ count: 10 }),
    /reading to EOF after the half-close .*p50 .* us, p99 .* us\); the test drops FINs$/)
})

test('a stall in a small exchange has no hint when the adapter gives none', async () => {
  const { server, client } = setup({ dropData: true })
  await server.handlers['bench-serve']({ mode: 'echo' })
  await assert.rejects(client.handlers['bench-hold']({ count: 2 }),
    /^Error: nothing moved for 0\.3 s while opening stream 1 of 2 to hold \(0 held so far\)$/)
})

test('bad fields are errors, modes are kept', async () => {
  const { server, client } = setup()
  await assert.rejects(client.handlers['bench-send']({ streams: 2 }), /missing `bytes`/)
  await assert.rejects(client.handlers['bench-send']({ bytes: 1, streams: 0 }), /at least 1/)
  await assert.rejects(client.handlers['bench-rr']({ count: -1 }), /non-negative integer/)
  await assert.rejects(client.handlers['bench-rr']({ count: 1, size: 0 }), /1\.\.=1048576/)
  await assert.rejects(server.handlers['bench-serve']({ mode: 'drain' }), /sink, echo or off/)
  assert.equal(server.mode(), 'off')
  await server.handlers['bench-serve']({ mode: 'sink' })
  assert.equal(server.mode(), 'sink')
})

test('rss is a positive byte count', async () => {
  assert.ok(rssBytes() > 0)
  const { server } = setup()
  const r = await server.handlers.rss({})
  assert.ok(Number.isSafeInteger(r.rss_bytes) && r.rss_bytes > 0)
})

test('serveInbound: only while bench-serve is on', async () => {
  const { server } = setup()
  let listened = 0
  const bs = { listen () { listened++ } }
  assert.equal(server.serveInbound(bs), false, 'off: the stream is the application\'s')
  assert.equal(listened, 0)
  await server.handlers['bench-serve']({ mode: 'echo' })
  assert.equal(server.serveInbound(bs), true)
  await server.handlers['bench-serve']({ mode: 'sink' })
  assert.equal(server.serveInbound(bs), true)
  assert.equal(listened, 2)
  await server.handlers['bench-serve']({ mode: 'off' })
  assert.equal(server.serveInbound(bs), false)
})
