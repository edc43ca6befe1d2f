'use strict'
// The implementation-independent part of the Node adapters (docs/adapters.md):
// the NDJSON output, `--role/--addr` parsing, the settings of the
// environment, the bytes of `write`, the stream table and the per-stream
// flag commands, the `closed` event, and the command loop. An adapter
// supplies its handlers (one async function per command, returning the
// reply's extra fields, `{ unsupported: why }`, or throwing for `error`) and
// calls `runAdapter` (or `runCommands`, the bare loop).

const readline = require('node:readline')
const util = require('node:util')
const crash = require('./crash.cjs')

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

// The `ok` of a parse result, or else its message on stderr and its exit code.
function okOrExit (r, logErr) {
  if (r.ok === undefined) {
    logErr(r.message)
    process.exit(r.exit)
  }
  return r.ok
}

// `parseArgs`, or the message on stderr and the exit code.
function argsOrExit (argv, logErr) {
  return okOrExit(parseArgs(argv), logErr)
}

// The muxer settings the runner may give in the environment (docs/adapters.md,
// "Invocation") as `{ ok: { keepAlive, window, maxStreams } }`, each
// undefined when its variable is unset or empty: `keepAlive` is false for
// YAMUX_KEEPALIVE=0, `window` is YAMUX_WINDOW (a whole number of bytes from
// `minWindow` to 2^32-1, else `{ exit: 89, message }`, the message naming the
// range after `windowWhy`), `maxStreams` is YAMUX_MAX_STREAMS (set by
// `yamuxctl bench`; a non-negative integer, else `{ exit: 2, message }`).
function parseEnv (env, { minWindow, windowWhy }) {
  const settings = { keepAlive: undefined, window: undefined, maxStreams: undefined }
  if (env.YAMUX_KEEPALIVE === '0') settings.keepAlive = false
  if (env.YAMUX_WINDOW !== undefined && env.YAMUX_WINDOW !== '') {
    const w = Number(env.YAMUX_WINDOW)
    const max = 2 ** 32 - 1
    if (!Number.isInteger(w) || w < minWindow || w > max) {
      return { exit: EXIT_UNSUPPORTED, message: `YAMUX_WINDOW=${env.YAMUX_WINDOW} is not supported (${windowWhy} ${minWindow}..${max})` }
    }
    settings.window = w
  }
  if (env.YAMUX_MAX_STREAMS !== undefined && env.YAMUX_MAX_STREAMS !== '') {
    const n = Number(env.YAMUX_MAX_STREAMS)
    if (!Number.isSafeInteger(n) || n < 0) {
      return { exit: EXIT_USAGE, message: `YAMUX_MAX_STREAMS=${env.YAMUX_MAX_STREAMS} is not a number` }
    }
    settings.maxStreams = n
  }
  return { ok: settings }
}

// `parseEnv` of process.env, or the message on stderr and the exit code.
function envOrExit (logErr, opts) {
  return okOrExit(parseEnv(process.env, opts), logErr)
}

// The first session's two moments: `ready` resolves once `setUp()` is
// called (commands that need the session wait for it), and `closed(reason)`
// prints the `closed` event, the first time only.
function sessionLife () {
  let setUp
  const ready = new Promise((resolve) => { setUp = resolve })
  let over = false
  const closed = (reason) => {
    if (over) return
    over = true
    emit({ event: 'closed', reason })
  }
  return { ready, setUp, closed }
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

// The streams the application holds, `streams` (wire id -> the adapter's
// state of the stream), and `defaults` for new ones (`read`, `echo`, and the
// adapter's own `extraDefaults`). `add` makes and registers a new stream's
// state: `fields` plus `id`, `stream`, `inbound` and `echo` (the default for
// an inbound stream, off for one the adapter opened). `handlers` are the
// per-stream commands, each on the state of the stream it names (after
// `ready`, the session's set-up): `write` awaits `write(state, bytes)`,
// `close` awaits `close(state)`; `read`/`no-read` call `resume`/`pause`,
// `echo`/`no-echo` set its `echo` (`echo` without a `stream` turns it on for
// the inbound streams only); without a `stream` these four also set the
// default.
function streamTable ({ ready, write, close, pause, resume, extraDefaults = {} }) {
  const streams = new Map()
  const defaults = { ...extraDefaults, read: true, echo: true }
  const add = (id, stream, inbound, fields) => {
    const st = { id, stream, inbound, echo: inbound ? defaults.echo : false, ...fields }
    streams.set(id, st)
    return st
  }
  const get = (cmd) => getStream(streams, cmd)
  // `open` with `hex` or `len`: writes them on the new stream in the
  // background (the `open` reply does not wait; a failure is reported as a
  // `stream-error` event). Throws before anything is opened if they are bad.
  const openBytes = (cmd) => (cmd.hex === undefined && cmd.len === undefined ? null : writeBytes(cmd))
  const writeOpened = (st, bytes) => {
    if (bytes === null) return
    write(st, bytes).catch((err) => {
      emit({ event: 'stream-error', stream: st.id, message: `write after open failed: ${err?.name ?? 'Error'}: ${err?.message ?? err}` })
    })
  }
  const handlers = {
    async write (cmd) {
      await ready
      const st = get(cmd)
      const bytes = writeBytes(cmd)
      await write(st, bytes)
      return { len: bytes.length }
    },

    async close (cmd) {
      await ready
      await close(get(cmd))
      return {}
    },

    async read (cmd) {
      forStreams(streams, cmd, resume, () => { defaults.read = true })
      return {}
    },

    async 'no-read' (cmd) {
      forStreams(streams, cmd, pause, () => { defaults.read = false })
      return {}
    },

    async echo (cmd) {
      forStreams(streams, cmd, (st) => {
        if (cmd.stream !== undefined || st.inbound) st.echo = true
      }, () => { defaults.echo = true })
      return {}
    },

    async 'no-echo' (cmd) {
      forStreams(streams, cmd, (st) => { st.echo = false }, () => { defaults.echo = false })
      return {}
    }
  }
  return { streams, defaults, add, get, openBytes, writeOpened, handlers }
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

// What every adapter ends with: the crash contract (crash.cjs), then the
// command loop over `handlers` and the commands js-common implements:
// `accept-sessions` (of `sessions`, sessions.cjs), `crash`, and the benchmark
// commands (of `bench`, bench.cjs). `errorMessage` as in `runCommands`.
function runAdapter (handlers, { logErr, sessions, bench, errorMessage, input, onEnd }) {
  crash.install(emit, logErr)
  const all = {
    ...handlers,
    'accept-sessions': sessions.acceptSessions,
    crash: crash.command,
    ...bench.handlers
  }
  return runCommands(all, { errorMessage, input, onEnd })
}

module.exports = {
  EXIT_UNSUPPORTED,
  emit,
  makeLogErr,
  parseArgs,
  argsOrExit,
  parseEnv,
  envOrExit,
  sessionLife,
  pattern,
  writeBytes,
  getStream,
  forStreams,
  streamTable,
  execute,
  runCommands,
  runAdapter
}
