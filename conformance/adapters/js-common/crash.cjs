'use strict'
// The crash contract of the Node adapters (docs/adapters.md, "Crashes").
//
// An exception nobody caught or a rejection nobody handled — in the muxer or
// in the adapter — ends the process, as it ends any application on Node >= 15.
// Before it does, the adapter prints a `crash` event (so the runner can say
// what died) and Node's own fatal-exception trailer (`Node.js vX`, the stderr
// marker the runner also recognises).

const EXIT_CRASH = 7

// Installs the two process handlers. `emit` writes one event object to
// stdout, `logErr` one line to stderr.
function install (emit, logErr) {
  const die = (what, err) => {
    emit({ event: 'crash', message: `${what}: ${err?.message ?? err}` })
    logErr(`${what}: ${err?.stack ?? err}`)
    process.stderr.write(`\nNode.js ${process.version}\n`)
    process.exit(EXIT_CRASH)
  }
  process.on('unhandledRejection', (err) => { die('unhandled rejection', err) })
  process.on('uncaughtException', (err) => { die('uncaught exception', err) })
}

// The `crash` command: throws from a later tick, outside every try of the
// adapter, as a bug in the muxer would. Never answered: the process ends.
function command () {
  setImmediate(() => { throw new Error('deliberate crash (adapter crash command)') })
  return new Promise(() => {})
}

module.exports = { install, command, EXIT_CRASH }
