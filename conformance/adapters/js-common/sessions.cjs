'use strict'
// The transport (the server's listener, the client's connection, `ready`)
// and the `accept-sessions` command of the adapter protocol (docs/adapters.md,
// "Invocation" and "More sessions"), shared by the Node adapters.
//
// The listener stays open for the whole run. Its first connection carries
// the session the runner drives; a later one is destroyed at once unless
// `accept-sessions` allowed it, and then becomes an extra session: a server
// session built like the first, whose application is the echo of bench.cjs
// (accept every stream, write back what was read, FIN after the peer's FIN
// once everything was written back), with no events and no commands.
//
// Each adapter gives two functions:
//   startFirst(socket)  runs the session the runner drives
//   startExtra(socket)  runs an extra session over the socket (TCP_NODELAY is
//                       already set). It must handle the socket's and the
//                       session's expected errors itself (print nothing on
//                       stdout; stderr is fine) and release the session when
//                       the socket closes. What it does not catch crashes
//                       the process (crash.cjs), as on the first session.

const net = require('node:net')
const { serve } = require('./bench.cjs')
const { emit } = require('./core.cjs')

/** Serves one inbound bench stream (bench.cjs interface) as an echo, with no events. */
function echo (bs) {
  serve(bs, 'echo')
}

/**
 *   server: true in the server role (else `accept-sessions` is unsupported)
 *   startFirst, startExtra: see above
 *   logErr: one line to stderr
 * Returns { onConnection(socket): the listener's 'connection' handler,
 *           acceptSessions(cmd): the command's handler (adapter style:
 *             resolves with the `ok` fields or { unsupported }, throws for
 *             `error`),
 *           stats(): { first, allowed, accepted, open, refused } }
 */
function createSessions ({ server, startFirst, startExtra, logErr }) {
  const st = {
    first: false, // the first connection came
    allowed: 0, // extra connections still to accept
    accepted: 0, // extra connections accepted so far
    open: 0, // extra connections not closed yet
    refused: 0 // connections destroyed on arrival
  }

  function onConnection (socket) {
    if (!st.first) {
      st.first = true
      startFirst(socket)
      return
    }
    if (st.allowed === 0) {
      st.refused++
      if (st.refused === 1 || st.refused % 100 === 0) {
        logErr(`refused a connection from ${socket.remoteAddress}:${socket.remotePort}: not asked to accept it (accept-sessions; ${st.refused} refused so far)`)
      }
      socket.destroy()
      return
    }
    st.allowed--
    st.accepted++
    st.open++
    socket.once('close', () => { st.open-- })
    socket.setNoDelay(true)
    startExtra(socket)
    if (st.allowed === 0) logErr(`accepted the extra sessions asked for (${st.accepted} in all); refusing further connections`)
  }

  async function acceptSessions (cmd) {
    if (!server) return { unsupported: 'accept-sessions is for the server role only' }
    const n = cmd.count
    if (!Number.isSafeInteger(n) || n < 0) throw new Error('`count` must be a non-negative integer')
    st.allowed += n
    return {}
  }

  return { onConnection, acceptSessions, stats: () => ({ ...st }) }
}

/** HOST:PORT, with the host in brackets when it is IPv6. */
function hostPort (host, port) {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`
}

/**
 * The transport of the adapter protocol (docs/adapters.md, "Invocation") for
 * `args` (core.parseArgs): in the server role a listener on args.host:
 * args.port, whose connections go to createSessions (the first to
 * startFirst, later ones to startExtra once `accept-sessions` allowed them),
 * and `ready` with the listening address; in the client role a connection to
 * args.host:args.port for startFirst, and `ready` with its local address. A
 * failed listen or connect ends the process with code 1.
 * Returns createSessions' object (`acceptSessions` is the command's handler).
 */
function startTransport ({ args, startFirst, startExtra, logErr }) {
  const sessions = createSessions({ server: args.role === 'server', startFirst, startExtra, logErr })
  const fail = (what) => (err) => {
    logErr(`${what} failed: ${err.message}`)
    process.exit(1)
  }
  if (args.role === 'server') {
    const server = net.createServer({ allowHalfOpen: false })
    server.on('error', fail('listen'))
    // Stays open: the first connection is the session, later ones are extra
    // sessions once `accept-sessions` allowed them, and destroyed otherwise.
    server.on('connection', sessions.onConnection)
    server.listen(args.port, args.host, () => {
      const a = server.address()
      emit({ event: 'ready', addr: hostPort(a.address, a.port) })
    })
  } else {
    const socket = net.connect({ host: args.host, port: args.port })
    socket.once('error', fail('connect'))
    socket.once('connect', () => {
      socket.removeAllListeners('error')
      startFirst(socket)
      emit({ event: 'ready', addr: hostPort(socket.localAddress, socket.localPort) })
    })
  }
  return sessions
}

module.exports = { createSessions, echo, hostPort, startTransport }
