'use strict'
// Tests of crash.cjs: a child process with the handlers installed dies of an
// unhandled rejection and of the `crash` command the way the runner expects.
//   node --test conformance/adapters/js-common/
const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const path = require('node:path')

const lib = JSON.stringify(path.join(__dirname, 'crash.cjs'))

function runChild (body) {
  const src = `
    const crash = require(${lib})
    const emit = (o) => process.stdout.write(JSON.stringify(o) + '\\n')
    const logErr = (s) => process.stderr.write(s + '\\n')
    crash.install(emit, logErr)
    ${body}
    setTimeout(() => process.exit(0), 2000)
  `
  return spawnSync(process.execPath, ['-e', src], { encoding: 'utf8', timeout: 10000 })
}

function check (r, what) {
  assert.equal(r.status, 7, `exit status; stderr: ${r.stderr}`)
  const ev = r.stdout.trim().split('\n').map((l) => JSON.parse(l))
  assert.equal(ev.length, 1)
  assert.equal(ev[0].event, 'crash')
  assert.match(ev[0].message, what)
  assert.match(r.stderr, /^Node\.js v\d+/m)
}

test('an unhandled rejection ends the process as a crash', () => {
  check(runChild("Promise.reject(new Error('boom'))"), /^unhandled rejection: boom$/)
})

test('the crash command throws outside every try and is never answered', () => {
  check(runChild('crash.command()'), /^uncaught exception: deliberate crash/)
})

test('a process without a fault exits normally', () => {
  const r = runChild('setImmediate(() => process.exit(0))')
  assert.equal(r.status, 0)
  assert.equal(r.stdout, '')
})
