'use strict'
// The benchmark commands of the adapter protocol (docs/adapters.md,
// "Benchmark commands"), shared by the Node adapters: js-libp2p (ESM,
// imports this file) and yamux-js (CommonJS, requires it). Every
// implementation is measured by exactly this code; an adapter only wraps its
// implementation's streams in the small interface below.
//
// The data never crosses the control channel: the client writes and reads on
// its own, the server sinks or echoes without events, and each reply carries
// figures measured here with a monotonic clock (performance.now()).
//
// A wrapped stream ("bench stream") has:
//   write(data)  queue bytes (a Uint8Array, or a chunk this stream delivered);
//                returns undefined when more may be written at once, or a
//                Promise that settles when the implementation can take more
//                (rejects if the stream failed)
//   end()        Promise: half-close (FIN) after every queued byte
//   listen(h)    start reading: h.data(chunk) with a Uint8Array or anything
//                with byteLength and subarray() (uint8arraylist), h.end() on
//                the peer's FIN, h.error(err) on a reset or another failure
//   pause(), resume()   stop / restart reading (echo back-pressure)

const fs = require('node:fs')
const { performance } = require('node:perf_hooks')
const { pattern } = require('./core.cjs')

// A client command that moves no byte for this long fails with a message
// saying where it stood, instead of waiting for the runner's time limit.
const STALL_MS = 10_000

/** VmRSS of this process in bytes (/proc/self/status), else Node's own figure. */
function rssBytes () {
  try {
    const m = /^VmRSS:\s+(\d+)\s*kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))
    if (m !== null) return Number(m[1]) * 1024
  } catch {}
  return process.memoryUsage.rss()
}

function nonNegInt (cmd, name, dflt) {
  const v = cmd[name]
  if (v === undefined) {
    if (dflt === undefined) throw new Error(`missing \`${name}\``)
    return dflt
  }
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`\`${name}\` must be a non-negative integer`)
  return v
}

// ---------------------------------------------------------------- reading

// Collects what a bench stream delivers; readExact / readToEnd wait for it.
class Reader {
  constructor (bs, ctx) {
    this.chunks = []
    this.buffered = 0
    this.eof = false
    this.err = null
    this.waiter = null // { n (bytes, or -1 for EOF), resolve, reject }
    bs.listen({
      data: (chunk) => {
        ctx.tick()
        const u8 = chunk instanceof Uint8Array ? chunk : chunk.subarray()
        this.chunks.push(u8)
        this.buffered += u8.byteLength
        this.wake()
      },
      end: () => {
        ctx.tick()
        this.eof = true
        this.wake()
      },
      error: (err) => {
        this.err = err ?? new Error('stream failed')
        this.wake()
      }
    })
  }

  take (n) {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered)
    const out = Buffer.from(all.buffer, all.byteOffset, n)
    const rest = all.subarray(n)
    this.chunks = rest.byteLength > 0 ? [rest] : []
    this.buffered -= n
    return out
  }

  wake () {
    const w = this.waiter
    if (w === null) return
    if (w.n >= 0 && this.buffered >= w.n) {
      this.waiter = null
      w.resolve(this.take(w.n))
    } else if (w.n < 0 && this.eof) {
      this.waiter = null
      w.resolve(this.take(this.buffered))
    } else if (this.err !== null) {
      this.waiter = null
      w.reject(this.err)
    } else if (this.eof) {
      this.waiter = null
      w.reject(new Error(`end of stream after ${this.buffered} of ${w.n} bytes`))
    }
  }

  wait (n) {
    return new Promise((resolve, reject) => {
      this.waiter = { n, resolve, reject }
      this.wake()
    })
  }

  readExact (n) { return this.wait(n) }
  readToEnd () { return this.wait(-1) }
}

// ---------------------------------------------------------------- server side

/** Serves one inbound stream in `mode` ('sink' or 'echo'), with no events. */
function serve (bs, mode) {
  if (mode === 'sink') {
    let total = 0
    bs.listen({
      data: (chunk) => { total += chunk.byteLength },
      end: () => {
        const c = Buffer.allocUnsafe(8)
        c.writeBigUInt64BE(BigInt(total))
        ;(async () => {
          await write(bs, c)
          await bs.end()
        })().catch(() => {})
      },
      error: () => {}
    })
    return
  }
  // echo: write back what was read; pause reading while the implementation
  // cannot take more; FIN once everything read has been written back.
  let waiting = 0
  bs.listen({
    data: (chunk) => {
      let p
      try {
        p = bs.write(chunk)
      } catch {
        return
      }
      if (p === undefined) return
      if (waiting++ === 0) bs.pause()
      p.then(() => { if (--waiting === 0) bs.resume() }, () => {})
    },
    end: () => { bs.end().catch(() => {}) },
    error: () => {}
  })
}

// ---------------------------------------------------------------- client side

// Runs fn(ctx); fails when nothing moved for STALL_MS. ctx.tick() marks
// progress, ctx.where() says what the command is waiting for, ctx.stage()
// at which stage: 'write' (bench-send's bulk writes), 'exchange' (the small
// exchanges of the other commands) or 'eof' (waiting for the peer's FIN);
// the adapter's hints[stage], if any, is added to the message.
function watched (stallMs, hints, fn) {
  const ctx = {
    last: performance.now(),
    where: () => 'starting',
    stage: () => 'exchange',
    tick () { this.last = performance.now() }
  }
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (performance.now() - ctx.last < stallMs) return
      clearInterval(timer)
      const hint = hints?.[ctx.stage()]
      reject(new Error(`nothing moved for ${stallMs / 1000} s while ${ctx.where()}${hint ? `; ${hint}` : ''}`))
    }, 250)
    fn(ctx).then(
      (v) => { clearInterval(timer); resolve(v) },
      (e) => { clearInterval(timer); reject(e) })
  })
}

async function write (bs, u8) {
  const p = bs.write(u8)
  if (p !== undefined) await p
}

async function sendOne (bs, bytes, buf, ctx, st) {
  const r = new Reader(bs, ctx)
  const ws = buf.byteLength
  let left = bytes
  while (left > 0) {
    const n = left < ws ? left : ws
    const p = bs.write(n === ws ? buf : buf.subarray(0, n))
    if (p !== undefined) await p
    left -= n
    st.written += n
    ctx.tick()
  }
  await bs.end()
  st.closed++
  const ack = await r.readToEnd()
  if (ack.byteLength !== 8) throw new Error(`the sink answered ${ack.byteLength} bytes, not 8`)
  const got = Number(ack.readBigUInt64BE(0))
  if (got !== bytes) throw new Error(`the sink read ${got} bytes, ${bytes} were sent`)
  st.done++
}

function percentile (sorted, q) {
  if (sorted.length === 0) return 0
  return sorted[Math.round((sorted.length - 1) * q)] * 1000 // ms -> us
}

/**
 * The handlers of the benchmark commands, in the adapters' handler style
 * (resolve with the `ok` fields, throw for `error`).
 *   open(): Promise<bench stream>, opens an outbound stream
 *   hints:  { write, exchange, eof } (any of them): added to a stall message
 *           at that stage (known bugs of the implementation)
 *   stallMs: the stall limit (default STALL_MS; tests make it short)
 */
function createBench ({ open, hints, stallMs = STALL_MS }) {
  const state = { mode: 'off', held: [] }

  const handlers = {
    async 'bench-serve' (cmd) {
      if (cmd.mode !== 'sink' && cmd.mode !== 'echo' && cmd.mode !== 'off') {
        throw new Error('`mode` must be sink, echo or off')
      }
      state.mode = cmd.mode
      return {}
    },

    async rss () {
      return { rss_bytes: rssBytes() }
    },

    async 'bench-send' (cmd) {
      const streams = nonNegInt(cmd, 'streams', 1)
      const bytes = nonNegInt(cmd, 'bytes')
      const writeSize = nonNegInt(cmd, 'write_size', 65536)
      if (streams === 0 || writeSize === 0) throw new Error('`streams` and `write_size` must be at least 1')
      const buf = pattern(Math.min(writeSize, Math.max(bytes, 1)))
      return watched(stallMs, hints, async (ctx) => {
        const st = { opened: 0, written: 0, closed: 0, done: 0 }
        ctx.where = () => `sending: ${st.opened}/${streams} streams open, ${st.written}/${streams * bytes} bytes written, ` +
          `${st.closed} half-closed, ${st.done} sink counts received`
        ctx.stage = () => st.written < streams * bytes ? 'write' : 'eof'
        const start = performance.now()
        const tasks = []
        for (let i = 0; i < streams; i++) {
          const bs = await open()
          st.opened++
          ctx.tick()
          const t = sendOne(bs, bytes, buf, ctx, st)
          t.catch(() => {}) // reported by Promise.all below
          tasks.push(t)
        }
        await Promise.all(tasks)
        return { elapsed_ms: performance.now() - start }
      })
    },

    async 'bench-rr' (cmd) {
      const count = nonNegInt(cmd, 'count')
      const size = nonNegInt(cmd, 'size', 64)
      if (size === 0 || size > 1 << 20) throw new Error('`size` must be 1..=1048576')
      return watched(stallMs, hints, async (ctx) => {
        const warmup = Math.min(Math.floor(count / 10), 100)
        const samples = new Float64Array(count)
        let i = 0
        ctx.where = () => `round trip ${i + 1} of ${warmup + count} (${warmup} warm-up)`
        const bs = await open()
        const r = new Reader(bs, ctx)
        const req = pattern(size)
        for (; i < warmup + count; i++) {
          const t = performance.now()
          await write(bs, req)
          await r.readExact(size)
          if (i >= warmup) samples[i - warmup] = performance.now() - t
        }
        samples.sort()
        const res = { p50_us: percentile(samples, 0.5), p99_us: percentile(samples, 0.99), count }
        ctx.where = () => `reading to EOF after the half-close that follows the round trips ` +
          `(those gave p50 ${res.p50_us.toFixed(1)} us, p99 ${res.p99_us.toFixed(1)} us)`
        ctx.stage = () => 'eof'
        await bs.end()
        await r.readToEnd()
        return res
      })
    },

    async 'bench-open' (cmd) {
      const count = nonNegInt(cmd, 'count')
      return watched(stallMs, hints, async (ctx) => {
        let i = 0
        let step = 'opening'
        ctx.where = () => `${step} stream ${i + 1} of ${count}`
        ctx.stage = () => step.startsWith('half-closing') ? 'eof' : 'exchange'
        const one = Buffer.from([7])
        const start = performance.now()
        for (; i < count; i++) {
          step = 'opening'
          const bs = await open()
          const r = new Reader(bs, ctx)
          step = 'exchanging 1 byte on'
          await write(bs, one)
          await r.readExact(1)
          step = 'half-closing and reading to EOF on'
          await bs.end()
          await r.readToEnd()
          ctx.tick()
        }
        return { elapsed_ms: performance.now() - start }
      })
    },

    async 'bench-hold' (cmd) {
      const count = nonNegInt(cmd, 'count')
      return watched(stallMs, hints, async (ctx) => {
        let i = 0
        ctx.where = () => `opening stream ${i + 1} of ${count} to hold (${state.held.length} held so far)`
        const one = Buffer.from([7])
        const start = performance.now()
        for (; i < count; i++) {
          const bs = await open()
          const r = new Reader(bs, ctx)
          await write(bs, one)
          await r.readExact(1)
          state.held.push(bs) // kept open and idle until the adapter exits
          ctx.tick()
        }
        return { held: count, elapsed_ms: performance.now() - start }
      })
    }
  }

  return {
    handlers,
    /** 'off', 'sink' or 'echo' */
    mode: () => state.mode,
    /** Serves an inbound stream in the current mode (not 'off'). */
    serve: (bs) => serve(bs, state.mode),
    /**
     * An inbound stream's bench stream: while `bench-serve` is on, served in
     * that mode with no events, and true; false when it is off (the stream
     * is the application's).
     */
    serveInbound: (bs) => {
      if (state.mode === 'off') return false
      serve(bs, state.mode)
      return true
    }
  }
}

module.exports = { createBench, rssBytes, serve, STALL_MS }
