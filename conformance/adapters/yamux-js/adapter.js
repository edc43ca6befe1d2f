'use strict'
// Conformance adapter for yamux-js (see docs/adapters.md).
//
// The session is a Transform stream piped over the TCP net.Socket
// (socket -> session -> socket); streams are Duplex streams. stdout carries
// NDJSON events only; the implementation's logger and ours go to stderr.

const util = require('node:util')
const benchLib = require('../js-common/bench.cjs')
const core = require('../js-common/core.cjs')
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

// Streams start from a fixed 256 KiB receive window and announce
// maxStreamWindowSize - 256 KiB on open; a smaller YAMUX_WINDOW would make a
// negative delta, which the header encoder cannot write.
const env = core.envOrExit(logErr, { minWindow: 256 * 1024, windowWhy: 'the implementation needs' })
// The implementation logs with console.log by default, i.e. to stdout.
const config = { logger: (...a) => logErr('yamux-js:', util.format(...a)) }
if (env.keepAlive === false) {
  config.enableKeepAlive = false
}
if (env.window !== undefined) {
  config.maxStreamWindowSize = env.window
}
// Many idle streams for `yamuxctl bench`: the session resets an inbound
// stream once it tracks more than acceptBacklog (default 256) streams.
if (env.maxStreams !== undefined) {
  config.acceptBacklog = env.maxStreams
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
const { ready: sessionReady, setUp: resolveSession, closed: reportClosed } = core.sessionLife()

const table = core.streamTable({
  ready: sessionReady,
  write: queueWrite,
  close: closeAfterWrites,
  pause: (st) => st.stream.pause(),
  resume: (st) => st.stream.resume()
})
const { defaults } = table

function isResetError (err) {
  return err?.message === 'connection reset'
}

function newStreamState (stream, inbound) {
  const st = table.add(stream.ID(), stream, inbound, {
    writes: Promise.resolve(), // chain of this stream's writes, in order
    pendingErrors: [], // errors emitted while a write is in progress
    writing: 0,
    eof: false,
    halfClosedByEcho: false
  })
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
  if (bench.serveInbound(benchStream(stream))) return // bench-serve sink/echo: no events
  const st = newStreamState(stream, true)
  emit({ event: 'accepted', stream: st.id })
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
  // A Go Away "normal" does not end the session (existing streams go on):
  // it is logged once, not reported as `closed`.
  let goAwayLogged = false
  socket.on('data', () => {
    if (session.isClosed()) {
      reportClosed(`session closed by the implementation${lastSessionError ? ': ' + lastSessionError.message : ''}`)
    } else if (session.remoteGoAway === true && !goAwayLogged) {
      goAwayLogged = true
      emit({ event: 'log', message: 'peer sent Go Away (normal); the implementation refuses new streams, existing ones go on' })
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

const sessions = sessionsLib.startTransport({
  args,
  startFirst: startSession,
  startExtra: startExtraSession,
  logErr
})

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

const handlers = {
  async open (cmd) {
    const bytes = table.openBytes(cmd)
    await sessionReady
    const before = sessionErrors
    const stream = session.open() // sends the SYN (window update) at once
    if (sessionErrors > before) throw lastSessionError
    const st = newStreamState(stream, false)
    table.writeOpened(st, bytes)
    return { stream: st.id }
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

  ...table.handlers
}

core.runAdapter(handlers, { logErr, sessions, bench })
