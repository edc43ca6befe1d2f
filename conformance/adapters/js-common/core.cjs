'use strict'
// The implementation-independent part of the Node adapters (docs/adapters.md):
// the NDJSON output, `--role/--addr` parsing, the bytes of `write`, the
// stream-table helpers of the per-stream commands, and the command loop. An
// adapter supplies its handlers (one async function per command, returning
// the reply's extra fields, `{ unsupported: why }`, or throwing for `error`)
// and calls `runCommands`.

const readline = require('node:readline')
const util = require('node:util')

const EXIT_UNSUPPORTED = 89
const EXIT_USAGE = 2

// Writes one event object as a line on stdout.
function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

// A logger writing one `[prefix] message` line to stderr (util.format of the
// arguments): stdout carries events only.
function makeLogErr (prefix) {
  return (...args) => { process.stderr.write(`[${prefix}] ${util.format(...args)}\n`) }
}

// Parses `--role server|client --addr HOST:PORT` (also `--opt=value`) into
// `{ ok: { role, host, port } }` or `{ exit, message }`: 89 for an unknown
// option or role, 2 for a usage error.
function parseArgs (argv) {
  const opts = {}
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i]
    let value
    const eq = arg.indexOf('=')
    if (arg.startsWith('--') && eq !== -1) {
      value = arg.slice(eq + 1)
      arg = arg.slice(0, eq)
    }
    if (arg !== '--role' && arg !== '--addr') {
      return { exit: EXIT_UNSUPPORTED, message: `unknown option ${arg}` }
    }
    if (value === undefined) {
      i++
      if (i >= argv.length) return { exit: EXIT_USAGE, message: `option ${arg} needs a value` }
      value = argv[i]
    }
    opts[arg.slice(2)] = value
  }
  if (opts.role !== 'server' && opts.role !== 'client') {
    return { exit: EXIT_UNSUPPORTED, message: `unsupported role ${JSON.stringify(opts.role)}` }
  }
  if (opts.addr === undefined) return { exit: EXIT_USAGE, message: '--addr is required' }
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(opts.addr)
  if (m === null) return { exit: EXIT_USAGE, message: `bad --addr ${opts.addr} (want HOST:PORT)` }
  return { ok: { role: opts.role, host: m[1], port: Number(m[2]) } }
}

// `parseArgs`, or the message on stderr and the exit code.
function argsOrExit (argv, logErr) {
  const r = parseArgs(argv)
  if (r.ok === undefined) {
    logErr(r.message)
    process.exit(r.exit)
  }
  return r.ok
}

// `n` pattern bytes: byte i is i mod 251.
function pattern (n) {
  const b = Buffer.allocUnsafe(n)
  for (let i = 0; i < n; i++) b[i] = i % 251
  return b
}

// The bytes of a `write` command (`hex`, or `len` pattern bytes); throws
// for a command with neither.
function writeBytes (cmd) {
  if (typeof cmd.hex === 'string') {
    if (!/^([0-9a-fA-F]{2})*$/.test(cmd.hex)) throw new Error('"hex" is not valid hex')
    return Buffer.from(cmd.hex, 'hex')
  }
  if (Number.isInteger(cmd.len) && cmd.len >= 0) return pattern(cmd.len)
  throw new Error('write needs "hex" or "len"')
}

// The held stream a command names (`streams`: wire id -> state); throws
// when there is none.
function getStream (streams, cmd) {
  if (typeof cmd.stream !== 'number') throw new Error('missing "stream"')
  const st = streams.get(cmd.stream)
  if (st === undefined) throw new Error(`unknown stream ${cmd.stream}`)
  return st
}

// `read`/`echo`-style commands: with a `stream`, `fn` on that stream; without,
// `setDefault()` and `fn` on every held stream.
function forStreams (streams, cmd, fn, setDefault) {
  if (cmd.stream === undefined) {
    setDefault()
    for (const st of streams.values()) fn(st)
  } else {
    fn(getStream(streams, cmd))
  }
}

// Runs one command through `handlers` and writes its reply. `errorMessage`
// turns what a handler threw into the `error` event's message.
async function execute (handlers, cmd, errorMessage) {
  const id = cmd.id ?? null
  const handler = typeof cmd.cmd === 'string' && Object.hasOwn(handlers, cmd.cmd) ? handlers[cmd.cmd] : undefined
  if (handler === undefined) {
    emit({ event: 'unsupported', id, message: `unknown command ${JSON.stringify(cmd.cmd)}` })
    return
  }
  try {
    const res = await handler(cmd)
    if (res.unsupported !== undefined) {
      emit({ event: 'unsupported', id, message: res.unsupported })
    } else {
      emit({ event: 'ok', id, ...res })
    }
  } catch (err) {
    emit({ event: 'error', id, message: errorMessage(err) })
  }
}

// The command loop: one command per stdin line, started in order (one that
// waits does not hold back later ones); exits 0 when stdin ends.
function runCommands (handlers, { errorMessage = (err) => err?.message ?? String(err), input = process.stdin, onEnd = () => process.exit(0) } = {}) {
  const rl = readline.createInterface({ input, crlfDelay: Infinity })
  rl.on('line', (line) => {
    if (line.trim() === '') return
    let cmd
    try {
      cmd = JSON.parse(line)
    } catch (err) {
      emit({ event: 'log', message: `ignored a line that is not JSON: ${line.slice(0, 200)}` })
      return
    }
    if (cmd === null || typeof cmd !== 'object') {
      emit({ event: 'log', message: `ignored a line that is not a JSON object: ${line.slice(0, 200)}` })
      return
    }
    execute(handlers, cmd, errorMessage)
  })
  rl.on('close', onEnd)
  return rl
}

module.exports = {
  EXIT_UNSUPPORTED,
  emit,
  makeLogErr,
  parseArgs,
  argsOrExit,
  pattern,
  writeBytes,
  getStream,
  forStreams,
  execute,
  runCommands
}
