// Conformance adapter for @chainsafe/libp2p-yamux (see docs/adapters.md).
//
// The muxer runs over a plain net.Socket wrapped in a minimal
// AbstractMultiaddrConnection; no libp2p node, no multistream-select, no
// encryption. stdout carries NDJSON events only; logs go to stderr.

// Node 20 has no Promise.withResolvers, but @libp2p/utils (stream onDrain)
// and the yamux muxer (ping) call it. Without this, every write that meets
// back-pressure throws a TypeError and the stream dies. Installed before the
// implementation is loaded (the imports below are dynamic, on purpose).
if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers () {
      let resolve, reject
      const promise = new this((res, rej) => { resolve = res; reject = rej })
      return { promise, resolve, reject }
    }
  })
}

import net from 'node:net'
import { performance } from 'node:perf_hooks'
import benchLib from '../js-common/bench.cjs'
import core from '../js-common/core.cjs'
import sessionsLib from '../js-common/sessions.cjs'

const { emit, EXIT_UNSUPPORTED } = core
const logErr = core.makeLogErr('js-libp2p-adapter')

// ---------------------------------------------------------------- output

function toBytes (data) {
  // data is a Uint8Array or a Uint8ArrayList
  const u8 = data instanceof Uint8Array ? data : data.subarray()
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength)
}

// ---------------------------------------------------------------- arguments

const args = core.argsOrExit(process.argv.slice(2), logErr)

// Muxer configuration from the environment (docs/adapters.md). The
// implementation refuses initial windows below 256 KiB (verifyConfig).
const env = core.envOrExit(logErr, { minWindow: 256 * 1024, windowWhy: 'the implementation accepts' })
const muxerInit = {}
if (env.keepAlive === false) {
  muxerInit.enableKeepAlive = false
}
if (env.window !== undefined) {
  muxerInit.streamOptions = { initialStreamWindowSize: env.window, maxStreamWindowSize: Math.max(env.window, 16 * 1024 * 1024) }
}
// Many idle streams for `yamuxctl bench` (default limits: 1,000 inbound and
// 1,000 outbound streams).
if (env.maxStreams !== undefined) {
  muxerInit.maxInboundStreams = env.maxStreams
  muxerInit.maxOutboundStreams = env.maxStreams
}

// Loaded after the polyfill and the argument check.
let yamux, AbstractMultiaddrConnection, logger, multiaddr
try {
  ({ yamux } = await import('@chainsafe/libp2p-yamux'));
  ({ AbstractMultiaddrConnection } = await import('@libp2p/utils'));
  ({ logger } = await import('@libp2p/logger'));
  ({ multiaddr } = await import('@multiformats/multiaddr'))
} catch (err) {
  logErr(`@chainsafe/libp2p-yamux is not installed (run ./install): ${err.message}`)
  process.exit(EXIT_UNSUPPORTED)
}

// ---------------------------------------------------------------- transport

function ipMultiaddr (host, port) {
  const proto = net.isIPv6(host) ? 'ip6' : 'ip4'
  return multiaddr(`/${proto}/${host}/tcp/${port}`)
}

// A MultiaddrConnection over a net.Socket: the smallest transport the muxer
// accepts. Back-pressure: sendData reports the socket's write() result and
// the socket's 'drain' becomes the connection's 'drain'.
class SocketConnection extends AbstractMultiaddrConnection {
  constructor (socket, direction) {
    super({
      remoteAddr: ipMultiaddr(socket.remoteAddress, socket.remotePort),
      direction,
      log: logger('js-libp2p-adapter:conn')
    })
    this.socket = socket
    socket.on('data', (buf) => { this.onData(buf) })
    socket.on('drain', () => { this.safeDispatchEvent('drain') })
    socket.on('error', (err) => {
      this.closeReason = `transport error: ${err.message}`
      logErr(this.closeReason)
    })
    socket.on('end', () => { this.closeReason ??= 'peer closed TCP' })
    socket.on('close', () => {
      this.closeReason ??= 'TCP connection closed'
      this.onTransportClosed()
    })
  }

  sendData (data) {
    let canSendMore = true
    for (const chunk of data) {
      canSendMore = this.socket.write(chunk)
    }
    return { sentBytes: data.byteLength, canSendMore }
  }

  sendReset () {
    this.closeReason ??= 'connection aborted by the implementation'
    this.socket.resetAndDestroy()
  }

  sendPause () { this.socket.pause() }
  sendResume () { this.socket.resume() }

  // Half-closes TCP once everything queued is flushed; the socket closes
  // fully when the peer closes its side.
  async sendClose () {
    if (this.socket.destroyed || this.socket.writableFinished) return
    await new Promise((resolve) => {
      this.socket.once('finish', resolve)
      this.socket.once('close', resolve)
      this.socket.end()
    })
  }
}

// ---------------------------------------------------------------- state

let muxer = null
let conn = null
let closingLocally = false
const { ready: sessionReady, setUp: resolveSession, closed: reportClosed } = core.sessionLife()

const table = core.streamTable({
  ready: sessionReady,
  write: writeAll,
  close: (st) => st.stream.close(),
  pause: pauseStream,
  resume: resumeStream,
  extraDefaults: { accept: true }
})
const { defaults } = table

function errorIsReset (st, err) {
  const s = st.stream
  return st.localReset || s.status === 'reset' || err?.name === 'StreamResetError'
}

function newStreamState (stream, inbound) {
  const st = table.add(stream.streamId, stream, inbound, {
    echoQueue: [], // Buffers to write back
    echoRunning: false,
    eof: false,
    sawFin: false,
    finished: false, // read side done (eof/reset/error)
    localReset: false,
    reading: false
  })
  stream.addEventListener('remoteCloseWrite', () => { st.sawFin = true })
  stream.addEventListener('close', (evt) => {
    // keep the state for late commands; drop echo work
    st.echoQueue.length = 0
    readEnded(st, evt.error)
  })
  st.onMessage = (evt) => {
    const bytes = toBytes(evt.data)
    emit({ event: 'data', stream: st.id, hex: bytes.toString('hex') })
    if (st.echo) {
      st.echoQueue.push(Buffer.from(bytes))
      runEcho(st)
    }
  }
  st.onRemoteCloseWrite = () => readEnded(st)
  if (defaults.read) resumeStream(st)
  return st
}

// Reading, the way the stream's own async iterator reads (the way libp2p
// applications read): a 'message' listener reports every chunk, and the
// read side ends at the peer's FIN ('remoteCloseWrite', which the muxer
// raises before it hands over the payload of the same frame: a D|FIN's bytes
// are lost to a reader, as they are to the iterator) or at the stream's
// 'close'. Not reading is an application that holds the stream without
// reading it: no 'message' listener, so the implementation buffers what
// arrives (and returns credit for it as it arrives, which is its design)
// up to its read-buffer limit. The stream's pause() is not used: it is an
// explicit flow-control API that also stops the Window Updates.
function pauseStream (st) {
  if (!st.reading) return
  st.reading = false
  st.stream.removeEventListener('message', st.onMessage)
  st.stream.removeEventListener('remoteCloseWrite', st.onRemoteCloseWrite)
}

function resumeStream (st) {
  if (st.reading || st.finished) return
  st.reading = true
  // adding the listener makes the stream hand over what it buffered (in a
  // microtask queued now; ours below runs after it)
  st.stream.addEventListener('message', st.onMessage)
  st.stream.addEventListener('remoteCloseWrite', st.onRemoteCloseWrite)
  if (st.sawFin) queueMicrotask(() => readEnded(st))
}

// The end of the read side: at FIN (eof) or at close (reset or error).
function readEnded (st, err) {
  if (st.finished) return
  if (err === undefined && !st.reading) return // reported once reading resumes
  st.finished = true
  pauseStream(st)
  if (err === undefined && st.sawFin) {
    st.eof = true
    emit({ event: 'eof', stream: st.id })
    runEcho(st)
  } else if (errorIsReset(st, err)) {
    emit({ event: 'reset', stream: st.id })
  } else if (err != null) {
    emit({ event: 'stream-error', stream: st.id, message: `${err.name}: ${err.message}` })
  } else {
    emit({ event: 'stream-error', stream: st.id, message: `stream ended without FIN (stream ${st.stream.status}, session ${muxer?.status})` })
  }
}

// Writes all bytes and resolves once the stream's write buffer is empty,
// i.e. the implementation has framed every byte and handed it to the
// transport. While the send window (or the socket) is full, send() returns
// false and the bytes wait in the stream; we wait for them to leave.
function writeAll (st, bytes) {
  const s = st.stream
  s.send(bytes) // throws if the write side is closed
  if (s.writeBufferLength === 0) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      s.removeEventListener('idle', onIdle)
      s.removeEventListener('close', onClose)
    }
    const onIdle = () => {
      if (s.writeBufferLength > 0) return
      cleanup()
      if (s.status === 'aborted' || s.status === 'reset') {
        reject(Object.assign(new Error(`stream ${s.status}`), { name: s.status === 'reset' ? 'StreamResetError' : 'StreamAbortError' }))
      } else {
        resolve()
      }
    }
    const onClose = (evt) => {
      cleanup()
      if (evt.error != null) {
        reject(evt.error)
      } else if (s.writeBufferLength === 0) {
        resolve()
      } else {
        reject(new Error(`stream closed with ${s.writeBufferLength} bytes unsent`))
      }
    }
    s.addEventListener('idle', onIdle)
    s.addEventListener('close', onClose)
  })
}

async function runEcho (st) {
  if (st.echoRunning) return
  st.echoRunning = true
  try {
    while (st.echoQueue.length > 0) {
      const buf = st.echoQueue.shift()
      await writeAll(st, buf)
    }
    if (st.eof && st.echo && st.inbound && !st.halfClosedByEcho) {
      st.halfClosedByEcho = true
      await st.stream.close()
    }
  } catch (err) {
    if (!st.finished || !errorIsReset(st, err)) {
      if (errorIsReset(st, err)) {
        emit({ event: 'reset', stream: st.id })
      } else {
        emit({ event: 'stream-error', stream: st.id, message: `echo failed: ${err.name}: ${err.message}` })
      }
    }
    st.echoQueue.length = 0
  } finally {
    st.echoRunning = false
  }
}

// ---------------------------------------------------------------- session

// Inbound streams the application has not taken yet (`no-accept`). The
// muxer has no accept call: it hands every new stream to its 'stream'
// listener, as libp2p hands it to a protocol handler. An application that
// does not take a stream holds it without reading it (the muxer buffers its
// data); removing the listener instead would put the muxer in a state real
// libp2p never enters (its early-stream list, limited to 10 streams).
const held = []

function onInboundStream (evt) {
  const stream = evt.detail
  if (bench.serveInbound(benchStream(stream))) return // bench-serve sink/echo: no events
  if (!defaults.accept) {
    held.push(stream)
    return
  }
  takeInbound(stream)
}

function takeInbound (stream) {
  const st = newStreamState(stream, true)
  emit({ event: 'accepted', stream: st.id })
}

function startSession (socket, direction) {
  socket.setNoDelay(true)
  conn = new SocketConnection(socket, direction)
  muxer = yamux(muxerInit)().createStreamMuxer(conn)
  muxer.addEventListener('stream', onInboundStream)
  // The muxer has no event of its own for its end: a Go Away from the peer
  // or a protocol error closes it while TCP may stay open. Check after every
  // chunk the muxer has processed (its listener was added first).
  conn.addEventListener('message', () => {
    if (muxer.status !== 'open' && muxer.status !== 'closing' && !closingLocally) {
      const ga = muxer.remoteGoAway
      reportClosed(ga !== undefined ? `peer sent Go Away (code ${ga})` : `session ${muxer.status} by the implementation`)
    }
  })
  conn.addEventListener('close', (evt) => {
    reportClosed(evt.error != null ? `${conn.closeReason ?? 'connection aborted'}: ${evt.error.message}` : (conn.closeReason ?? 'connection closed'))
  })
  resolveSession()
}

// An extra session (`accept-sessions`): a server muxer created as the first
// one, serving every inbound stream with the echo of ../js-common (no events,
// no commands). Socket errors are logged by SocketConnection; the muxer's own
// errors abort it and the connection (AbstractStreamMuxer), which closes the
// socket, and the muxer then releases its streams and keep-alive timer.
function startExtraSession (socket) {
  const c = new SocketConnection(socket, 'inbound')
  const m = yamux(muxerInit)().createStreamMuxer(c)
  m.addEventListener('stream', (evt) => { sessionsLib.echo(benchStream(evt.detail)) })
  // A Go Away from the peer closes the muxer while TCP may stay open: close
  // TCP too, nothing more can happen on it.
  c.addEventListener('message', () => {
    if (m.status === 'closed') socket.destroy()
  })
  c.addEventListener('close', (evt) => {
    if (evt.error != null) logErr(`extra session ended: ${c.closeReason ?? 'connection aborted'}: ${evt.error.message}`)
  })
}

const sessions = sessionsLib.startTransport({
  args,
  startFirst: (socket) => startSession(socket, args.role === 'server' ? 'inbound' : 'outbound'),
  startExtra: startExtraSession,
  logErr
})

// ---------------------------------------------------------------- benchmarks

// A YamuxStream in the interface of ../js-common/bench.cjs, used the way
// libp2p applications use it: send() and onDrain() for back-pressure,
// 'message' events to read, close() to half-close.
function benchStream (stream) {
  return {
    write (data) {
      return stream.send(data) ? undefined : stream.onDrain()
    },
    end () {
      return stream.close()
    },
    listen (h) {
      stream.addEventListener('message', (evt) => { h.data(evt.data) })
      stream.addEventListener('remoteCloseWrite', () => { h.end() })
      stream.addEventListener('close', (evt) => {
        if (evt.error != null) h.error(evt.error)
        else if (stream.remoteWriteStatus !== 'closed') h.error(new Error('stream closed without FIN'))
      })
    },
    pause () { if (stream.readStatus === 'readable') stream.pause() },
    resume () { if (stream.readStatus === 'paused') stream.resume() }
  }
}

const bench = benchLib.createBench({
  async open () {
    await sessionReady
    return benchStream(await muxer.createStream())
  }
})

// ---------------------------------------------------------------- commands

const handlers = {
  async open (cmd) {
    const bytes = table.openBytes(cmd)
    await sessionReady
    const stream = await muxer.createStream()
    const st = newStreamState(stream, false)
    table.writeOpened(st, bytes)
    return { stream: st.id }
  },

  async reset (cmd) {
    await sessionReady
    const st = table.get(cmd)
    st.localReset = true
    st.stream.abort(new Error('reset by the conformance runner'))
    return {}
  },

  async ping () {
    await sessionReady
    const t0 = performance.now()
    await muxer.ping()
    return { rtt_ms: performance.now() - t0 }
  },

  async goaway () {
    return { unsupported: 'the muxer has no API that sends Go Away without closing the session (close() closes every stream first, then sends Go Away)' }
  },

  async 'session-close' () {
    await sessionReady
    closingLocally = true
    conn.closeReason ??= 'session closed by the adapter (session-close)'
    // What a libp2p connection does on close(): close the muxer (half-close
    // every stream, then Go Away "normal"), then close the transport.
    await muxer.close()
    await conn.close()
    reportClosed('session closed by the adapter (session-close)')
    return {}
  },

  async accept () {
    defaults.accept = true
    // the streams left waiting, in the order they came
    for (const stream of held.splice(0)) takeInbound(stream)
    return {}
  },

  async 'no-accept' () {
    defaults.accept = false
    return {}
  },

  ...table.handlers
}

core.runAdapter(handlers, { logErr, sessions, bench, errorMessage: (err) => `${err.name}: ${err.message}` })
