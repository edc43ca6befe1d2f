'use strict'
// Conformance adapter for yamux-js (see docs/adapters.md).
//
// The session is a Transform stream piped over the TCP net.Socket
// (socket -> session -> socket); streams are Duplex streams. stdout carries
// NDJSON events only; the implementation's logger and ours go to stderr.

const net = require('node:net')
const util = require('node:util')
const benchLib = require('../js-common/bench.cjs')
const core = require('../js-common/core.cjs')
const crash = require('../js-common/crash.cjs')
const sessionsLib = require('../js-common/sessions.cjs')

const { emit, EXIT_UNSUPPORTED } = core
const logErr = core.makeLogErr('yamux-js-adapter')

// ---------------------------------------------------------------- arguments

const args = core.argsOrExit(process.argv.slice(2), logErr)

let yamuxjs
try {
  yamuxjs = require('yamux-js')
} catch (err) {
  logErr(`yamux-js is not installed (run ./install): ${err.message}`)
  process.exit(EXIT_UNSUPPORTED)
}

// The implementation logs with console.log by default, i.e. to stdout.
const config = { logger: (...a) => logErr('yamux-js:', util.format(...a)) }
if (process.env.YAMUX_KEEPALIVE === '0') {
  config.enableKeepAlive = false
}
if (process.env.YAMUX_WINDOW !== undefined && process.env.YAMUX_WINDOW !== '') {
  const w = Number(process.env.YAMUX_WINDOW)
  // Streams start from a fixed 256 KiB receive window and announce
  // maxStreamWindowSize - 256 KiB on open; a smaller value would make a
  // negative delta, which the header encoder cannot write.
  if (!Number.isInteger(w) || w < 256 * 1024 || w > 2 ** 32 - 1) {
    logErr(`YAMUX_WINDOW=${process.env.YAMUX_WINDOW} is not supported (the implementation needs 262144..4294967295)`)
    process.exit(EXIT_UNSUPPORTED)
  }
  config.maxStreamWindowSize = w
}
// Set by `yamuxctl bench` to hold many idle streams: the session resets an
// inbound stream once it tracks more than acceptBacklog (default 256) streams.
if (process.env.YAMUX_MAX_STREAMS !== undefined && process.env.YAMUX_MAX_STREAMS !== '') {
  const n = Number(process.env.YAMUX_MAX_STREAMS)
  if (!Number.isSafeInteger(n) || n < 0) {
    logErr(`YAMUX_MAX_STREAMS=${process.env.YAMUX_MAX_STREAMS} is not a number`)
    process.exit(2)
  }
  config.acceptBacklog = n
}

// The Client constructor takes no inbound-stream callback; the callback is
// the Session's protected `onStream` member, which the Server sets from its
// constructor. This subclass sets it the same way, so a client session can
// hand inbound streams to the application too.
class AcceptingClient extends yamuxjs.Client {
  constructor (cfg, onStream) {
    super(cfg)
    this.onStream = onStream
  }
}

// ---------------------------------------------------------------- state

let session = null
let sessionErrors = 0
let lastSessionError = null
let sessionClosed = false
let resolveSession
const sessionReady = new Promise((resolve) => { resolveSession = resolve })

const streams = new Map() // wire id -> state
const defaults = { read: true, echo: true }

function reportClosed (reason) {
  if (sessionClosed) return
  sessionClosed = true
  emit({ event: 'closed', reason })
}

function isResetError (err) {
  return err?.message === 'connection reset'
}

function newStreamState (stream, inbound) {
  const st = {
    id: stream.ID(),
    stream,
    inbound,
    echo: inbound ? defaults.echo : false,
    writes: Promise.resolve(), // chain of this stream's writes, in order
    pendingErrors: [], // errors emitted while a write is in progress
    writing: 0,
    eof: false,
    halfClosedByEcho: false
  }
  streams.set(st.id, st)
  stream.on('error', (err) => {
    if (st.writing > 0) st.pendingErrors.push(err)
    if (isResetError(err)) {
      emit({ event: 'reset', stream: st.id })
    } else {
      emit({ event: 'stream-error', stream: st.id, message: err.message })
    }
  })
  stream.on('data', (chunk) => {
    emit({ event: 'data', stream: st.id, hex: chunk.toString('hex') })
    if (st.echo) queueWrite(st, Buffer.from(chunk)).catch(() => {})
  })
  stream.on('end', () => {
    st.eof = true
    emit({ event: 'eof', stream: st.id })
    if (st.echo && st.inbound) {
      st.halfClosedByEcho = true
      closeAfterWrites(st).catch(() => {})
    }
  })
  if (!defaults.read) stream.pause()
  return st
}

// One write, in order behind the stream's earlier writes. Resolves when the
// implementation has taken every byte (the Writable callback: the stream has
// framed them into the session). While the send window is empty the
// implementation retries by itself every 100 ms, so the callback waits.
function queueWrite (st, bytes) {
  const p = st.writes.then(() => new Promise((resolve, reject) => {
    st.writing++
    st.pendingErrors.length = 0
    st.stream.write(bytes, (err) => {
      st.writing--
      const failure = err ?? st.pendingErrors[0]
      st.pendingErrors.length = 0
      if (failure) reject(failure)
      else resolve()
    })
  }))
  st.writes = p.catch(() => {})
  return p
}

// Half-close (FIN) once the stream's queued writes are done: Stream.close()
// sends FIN at once, ahead of data still waiting for send window.
function closeAfterWrites (st) {
  const p = st.writes.then(() => { st.stream.close() })
  st.writes = p.catch(() => {})
  return p
}

// ---------------------------------------------------------------- session

function onInboundStream (stream) {
  if (bench.mode() !== 'off') {
    bench.serve(benchStream(stream)) // bench-serve sink/echo: no events
    return
  }
  const st = newStreamState(stream, true)
  emit({ event: 'accepted', stream: st.id })
}

function hostPort (host, port) {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`
}

function startSession (socket) {
  socket.setNoDelay(true)
  session = args.role === 'server'
    ? new yamuxjs.Server(onInboundStream, config)
    : new AcceptingClient(config, onInboundStream)
  session.on('error', (err) => {
    sessionErrors++
    lastSessionError = err
    logErr(`session error: ${err.message}`)
    if (session.isClosed()) {
      reportClosed(`session closed by the implementation: ${err.message}`)
    } else {
      // pipe() reacts to an 'error' on its destination by unpiping: from now
      // on the session gets no more bytes from the socket.
      emit({ event: 'log', message: `the session emitted 'error' (${err.message}); socket.pipe(session) is now unpiped, the session receives nothing more` })
    }
  })
  socket.on('error', (err) => {
    logErr(`socket error: ${err.message}`)
    reportClosed(`transport error: ${err.message}`)
  })
  socket.pipe(session).pipe(socket)
  // After the session has processed a chunk: a Go Away from the peer leaves
  // no trace but a flag (Session.remoteGoAway, private; read only to report).
  socket.on('data', () => {
    if (session.isClosed()) {
      reportClosed(`session closed by the implementation${lastSessionError ? ': ' + lastSessionError.message : ''}`)
    } else if (session.remoteGoAway === true) {
      reportClosed('peer sent Go Away (normal); the implementation refuses new streams, existing ones go on')
    }
  })
  socket.on('end', () => reportClosed('peer closed TCP'))
  socket.on('close', () => reportClosed('TCP connection closed'))
  resolveSession()
}

// An extra session (`accept-sessions`): a Server created as the first one,
// serving every inbound stream with the echo of ../js-common (no events, no
// commands). It ends when TCP closes or on the session's first 'error': the
// implementation emits one when it shuts itself down, and after any other
// the socket is unpiped from it (README quirk 7), so it could do nothing
// more. Ending it clears its keep-alive timer and drops its streams.
function startExtraSession (socket) {
  const s = new yamuxjs.Server((stream) => { sessionsLib.echo(benchStream(stream)) }, config)
  let ended = false
  const end = () => {
    if (ended) return
    ended = true
    if (!s.isClosed()) s.close()
    s.destroy()
    socket.destroy()
  }
  s.on('error', (err) => {
    logErr(`extra session: session error: ${err.message}`)
    end()
  })
  socket.on('error', (err) => { logErr(`extra session: socket error: ${err.message}`) })
  socket.on('close', end)
  socket.pipe(s).pipe(socket)
}

const sessions = sessionsLib.createSessions({
  server: args.role === 'server',
  startFirst: startSession,
  startExtra: startExtraSession,
  logErr
})

if (args.role === 'server') {
  const server = net.createServer()
  server.on('error', (err) => {
    logErr(`listen failed: ${err.message}`)
    process.exit(1)
  })
  // Stays open: the first connection is the session, later ones are extra
  // sessions once `accept-sessions` allowed them, and destroyed otherwise.
  server.on('connection', sessions.onConnection)
  server.listen(args.port, args.host, () => {
    const a = server.address()
    emit({ event: 'ready', addr: hostPort(a.address, a.port) })
  })
} else {
  const socket = net.connect({ host: args.host, port: args.port })
  socket.once('error', (err) => {
    logErr(`connect failed: ${err.message}`)
    process.exit(1)
  })
  socket.once('connect', () => {
    socket.removeAllListeners('error')
    startSession(socket)
    emit({ event: 'ready', addr: hostPort(socket.localAddress, socket.localPort) })
  })
}

// ---------------------------------------------------------------- benchmarks

// Resolves once the stream's queued writes are done ('drain'); rejects on an
// 'error' or when the stream is destroyed first.
function drained (stream) {
  return new Promise((resolve, reject) => {
    const done = (err) => {
      stream.off('drain', onDrain)
      stream.off('error', done)
      stream.off('close', onClose)
      if (err) reject(err)
      else resolve()
    }
    const onDrain = () => done()
    const onClose = () => done(new Error('stream destroyed'))
    stream.on('drain', onDrain)
    stream.on('error', done)
    stream.on('close', onClose)
  })
}

// A yamux-js Stream (a Node Duplex) in the interface of
// ../js-common/bench.cjs: write() with 'drain' for back-pressure, 'data' /
// 'end' / 'error' to read, close() (FIN) once the queued writes are done.
function benchStream (stream) {
  return {
    write (data) {
      return stream.write(data) ? undefined : drained(stream)
    },
    async end () {
      if (stream.writableLength > 0) await drained(stream)
      stream.close()
    },
    listen (h) {
      stream.on('data', h.data)
      stream.on('end', h.end)
      stream.on('error', h.error)
    },
    pause () { stream.pause() },
    resume () { stream.resume() }
  }
}

const bench = benchLib.createBench({
  async open () {
    await sessionReady
    const before = sessionErrors
    const stream = session.open()
    if (sessionErrors > before) throw lastSessionError
    return benchStream(stream)
  },
  hints: {
    eof: 'yamux-js never delivers a FIN to the reader (README quirk 1)',
    write: 'yamux-js loses data frames split across socket reads (README quirk 2)'
  }
})

// ---------------------------------------------------------------- commands

function getStream (cmd) {
  return core.getStream(streams, cmd)
}

function forStreams (cmd, fn, setDefault) {
  core.forStreams(streams, cmd, fn, setDefault)
}

const handlers = {
  async open () {
    await sessionReady
    const before = sessionErrors
    const stream = session.open() // sends the SYN (window update) at once
    if (sessionErrors > before) throw lastSessionError
    const st = newStreamState(stream, false)
    return { stream: st.id }
  },

  async write (cmd) {
    await sessionReady
    const st = getStream(cmd)
    const bytes = core.writeBytes(cmd)
    await queueWrite(st, bytes)
    return { len: bytes.length }
  },

  async close (cmd) {
    await sessionReady
    await closeAfterWrites(getStream(cmd))
    return {}
  },

  async reset () {
    return { unsupported: 'no API sends RST: Stream has close() (FIN) and forceClose()/destroy(), which only change local state' }
  },

  async ping () {
    return { unsupported: 'Session.ping() is private and returns nothing (no way to wait for the answer); it is only used by the keep-alive timer' }
  },

  async goaway () {
    return { unsupported: 'Session.goAway() is private; the only public way to send Go Away is Session.close()' }
  },

  async 'session-close' () {
    await sessionReady
    session.close() // Go Away (normal), streams closed locally, session ended
    reportClosed('session closed by the adapter (session-close)')
    return {}
  },

  async accept () {
    return { unsupported: 'streams are handed to the onStream callback as their SYN arrives; there is no accept call or backlog to hold them' }
  },

  async 'no-accept' () {
    return { unsupported: 'streams are handed to the onStream callback as their SYN arrives; there is no accept call or backlog to hold them' }
  },

  async read (cmd) {
    forStreams(cmd, (st) => st.stream.resume(), () => { defaults.read = true })
    return {}
  },

  async 'no-read' (cmd) {
    forStreams(cmd, (st) => st.stream.pause(), () => { defaults.read = false })
    return {}
  },

  async echo (cmd) {
    forStreams(cmd, (st) => {
      if (cmd.stream !== undefined || st.inbound) st.echo = true
    }, () => { defaults.echo = true })
    return {}
  },

  async 'no-echo' (cmd) {
    forStreams(cmd, (st) => { st.echo = false }, () => { defaults.echo = false })
    return {}
  },

  'accept-sessions': sessions.acceptSessions,

  crash: crash.command,

  ...bench.handlers
}

crash.install(emit, logErr)

core.runCommands(handlers)
