'use strict'
// The server's listener and the `accept-sessions` command of the adapter
// protocol (docs/adapters.md, "Invocation" and "More sessions"), shared by
// the Node adapters.
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

const { serve } = require('./bench.cjs')

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

module.exports = { createSessions, echo }
