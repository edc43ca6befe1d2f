"""Conformance adapter for py-libp2p's Yamux (docs/adapters.md).

Runs `libp2p.stream_muxer.yamux.Yamux` directly over a plain TCP connection
(no multistream-select, no secure channel) and drives its application side
from NDJSON commands on stdin, reporting NDJSON events on stdout.
"""

import errno
import json
import logging
import math
import os
import sys
import time
import traceback

import trio
from libp2p.exceptions import BaseLibp2pError
from libp2p.io.trio import TrioTCPStream
from libp2p.peer.id import ID
from libp2p.stream_muxer.exceptions import (
    MuxedConnUnavailable,
    MuxedStreamEOF,
    MuxedStreamReset,
)
from libp2p.stream_muxer.yamux.yamux import Yamux

EXIT_UNSUPPORTED = 89
EXIT_CRASH = 7
IMPL = "py-libp2p Yamux"


def emit(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def log(msg):
    print(f"adapter: {msg}", file=sys.stderr, flush=True)


# How a session may end without the implementation being at fault: its own
# error types and the transport's. Anything else escaping the muxer's tasks
# is a bug that would end the application's trio nursery: a crash.
SESSION_END = (BaseLibp2pError, OSError, trio.BrokenResourceError,
               trio.ClosedResourceError, trio.EndOfChannel)


def is_session_end(err):
    if isinstance(err, BaseExceptionGroup):
        return all(is_session_end(e) for e in err.exceptions)
    return isinstance(err, SESSION_END)


def crash(what, err):
    """The crash contract (docs/adapters.md, "Crashes"): a `crash` event,
    the traceback and the YAMUX-ADAPTER-CRASH marker on stderr, exit 7."""
    traceback.print_exception(err, file=sys.stderr)
    while isinstance(err, BaseExceptionGroup) and len(err.exceptions) == 1:
        err = err.exceptions[0]  # trio wraps what escapes a nursery
    emit(event="crash", message=f"{what}: {type(err).__name__}: {err}")
    print(f"YAMUX-ADAPTER-CRASH {what}: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
    os._exit(EXIT_CRASH)


async def deliberate_crash():
    """The `crash` command: an exception in a task of the adapter's nursery,
    as a bug in a muxer task would raise. Never answered."""
    raise RuntimeError("deliberate crash (adapter crash command)")


class RawConn(TrioTCPStream):
    """The trio TCP stream type py-libp2p uses, standing in for the secure
    connection Yamux expects: Yamux only reads, writes, closes it and asks
    `is_initiator`."""

    def __init__(self, stream, is_initiator):
        super().__init__(stream)
        self.is_initiator = is_initiator


def new_session(conn, client):
    """Creates the yamux session over a TCP stream: the only construction
    code, used for the first session and for `accept-sessions`' ones."""
    sess = Yamux(RawConn(conn, client), ID(b"yamux-conformance-peer"), is_initiator=client)
    limit = max_streams()
    if limit is not None:
        # open_stream() takes a slot of this semaphore (256 slots) until
        # the stream is closed; bench-hold needs more.
        sess.stream_backlog_limit = limit
        sess.stream_backlog_semaphore = trio.Semaphore(limit)
    return sess


async def run_muxer(sess, what="exception escaped the muxer"):
    """Runs the muxer's tasks until the session is over (every session goes
    through here). Returns None, or the library/transport error the session
    ended with; anything else escaping the muxer is a crash."""
    try:
        await sess.start()  # returns when the session is over
    except Exception as err:
        if not is_session_end(err):
            crash(what, err)
        return err
    return None


class Stream:
    def __init__(self, adapter, ms, opened):
        self.a = adapter
        self.ms = ms
        self.id = ms.stream_id
        self.opened = opened
        self.read_override = None
        self.echo_override = None
        self.reset_seen = False
        self.jobs_send, self.jobs_recv = trio.open_memory_channel(math.inf)

    def is_reset(self, err):
        return isinstance(err, MuxedStreamReset) or bool(getattr(self.ms, "reset_received", False))

    def report_reset(self):
        if not self.reset_seen:
            self.reset_seen = True
            emit(event="reset", stream=self.id)

    async def writer(self):
        """Runs writes, closes and echo data in order."""
        async for kind, data, cmd in self.jobs_recv:
            try:
                if kind == "close":
                    await self.ms.close()
                else:
                    await self.ms.write(data)
            except Exception as err:  # the implementation's errors are varied
                if self.is_reset(err):
                    self.report_reset()
                if cmd is not None:
                    emit(event="error", id=cmd.get("id"), message=f"{type(err).__name__}: {err}")
                elif not self.is_reset(err):
                    what = {"close": "echo half-close", "open-write": "write after open"}.get(kind, "echo write")
                    emit(event="stream-error", stream=self.id, message=f"{what}: {type(err).__name__}: {err}")
                continue
            if cmd is not None:
                if kind == "close":
                    emit(event="ok", id=cmd.get("id"))
                else:
                    emit(event="ok", id=cmd.get("id"), len=len(data))

    async def reader(self):
        a = self.a
        while True:
            while not a.read_enabled(self):
                await a.changed.wait()
            try:
                # read() without a size returns whatever is buffered. read(n)
                # would report a peer's RST as EOF (see README).
                data = await self.ms.read()
            except MuxedStreamEOF:
                if self.ms.reset_received:
                    self.report_reset()
                    return
                data = None
            except MuxedStreamReset:
                self.report_reset()
                return
            except Exception as err:
                if self.is_reset(err):
                    self.report_reset()
                else:
                    emit(event="stream-error", stream=self.id, message=f"read: {type(err).__name__}: {err}")
                return
            if not data:
                emit(event="eof", stream=self.id)
                if a.echo_enabled(self):
                    self.jobs_send.send_nowait(("close", None, None))
                return
            emit(event="data", stream=self.id, hex=data.hex())
            if a.echo_enabled(self):
                self.jobs_send.send_nowait(("write", bytes(data), None))


# --- Benchmark commands (docs/adapters.md, "Benchmark commands") -----------
# The data never crosses the control channel: inbound streams in sink/echo
# mode are served here without events, and client commands measure on their
# own (time.perf_counter_ns, monotonic) and reply with the figures.

# Server-side reads use read(n): read() without a size joins the buffered
# 64 KiB slices by repeated bytes concatenation, quadratic in what is
# buffered (up to the 16 MiB window): a 64 MiB single-stream sink took 27 s
# with read(), 0.3 s with read(1 MiB) (README, "Benchmarks").
SERVE_READ = 1 << 20
BENCH_CMDS = ("bench-serve", "bench-send", "bench-rr", "bench-open", "bench-hold", "rss")


class BenchError(Exception):
    pass


def pattern(n):
    return bytes(i % 251 for i in range(min(n, 251))) * (n // 251) + bytes(i % 251 for i in range(n % 251))


def int_field(cmd, name, default=None, limit=1 << 64):
    v = cmd.get(name, default)
    if v is None:
        raise BenchError(f"missing `{name}`")
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise BenchError(f"`{name}` must be a non-negative integer")
    if v >= limit:
        raise BenchError(f"`{name}` is too large")
    return v


def write_bytes(cmd):
    """The bytes of a write (or of an open that writes): hex, or len pattern bytes."""
    if isinstance(cmd.get("hex"), str):
        try:
            return bytes.fromhex(cmd["hex"])
        except ValueError as err:
            raise ValueError(f"bad hex: {err}") from err
    if isinstance(cmd.get("len"), int) and cmd["len"] >= 0:
        return bytes(i % 251 for i in range(cmd["len"]))
    raise ValueError(f"{cmd.get('cmd')} needs hex or len")


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise BenchError("no VmRSS in /proc/self/status")


def ms_since(t0):
    return (time.perf_counter_ns() - t0) / 1e6


class Reader:
    """Reads a stream with `read()` (everything buffered, one call per
    wake-up) and keeps what a caller did not take yet."""

    def __init__(self, ms):
        self.ms = ms
        self.buf = bytearray()

    async def chunk(self):
        """Next bytes, or None at the peer's FIN."""
        try:
            return await self.ms.read()
        except MuxedStreamEOF:
            if self.ms.reset_received:
                raise BenchError("stream reset by the peer")
            return None

    async def exact(self, n):
        while len(self.buf) < n:
            data = await self.chunk()
            if data is None:
                raise BenchError(f"EOF after {len(self.buf)} of {n} bytes")
            self.buf += data
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    async def to_eof(self):
        while True:
            data = await self.chunk()
            if data is None:
                out = bytes(self.buf)
                self.buf.clear()
                return out
            self.buf += data


async def bench_serve_stream(ms, mode):
    """Serves one inbound stream in sink or echo mode, no events; errors end
    it silently (the client reports them)."""
    try:
        if mode == "sink":
            total = 0
            while True:
                try:
                    data = await ms.read(SERVE_READ)
                except MuxedStreamEOF:
                    break
                total += len(data)
            await ms.write(total.to_bytes(8, "big"))
        else:
            while True:
                try:
                    data = await ms.read(SERVE_READ)
                except MuxedStreamEOF:
                    break
                if data:
                    await ms.write(data)
        await ms.close()
    except Exception:  # reset, session end: nothing to report here
        pass


async def bench_send_one(ms, total, chunk, write_size):
    left = total
    while left >= write_size:
        await ms.write(chunk)
        left -= write_size
    if left:
        await ms.write(chunk[:left])
    await ms.close()
    ack = await Reader(ms).to_eof()
    if len(ack) != 8:
        raise BenchError(f"the sink answered {len(ack)} bytes, not 8")
    got = int.from_bytes(ack, "big")
    if got != total:
        raise BenchError(f"the sink read {got} bytes, {total} were sent")


class BenchClient:
    def __init__(self, adapter):
        self.a = adapter
        self.held = []

    async def open(self):
        await self.a.ready.wait()
        return await self.a.sess.open_stream()

    async def send(self, cmd):
        streams = int_field(cmd, "streams", 1, 1 << 32)
        total = int_field(cmd, "bytes")
        write_size = int_field(cmd, "write_size", 65536, 1 << 32)
        if streams == 0 or write_size == 0:
            raise BenchError("`streams` and `write_size` must be at least 1")
        chunk = pattern(min(write_size, max(total, 1)))
        write_size = len(chunk)
        errors = []

        async def one(ms):
            try:
                await bench_send_one(ms, total, chunk, write_size)
            except Exception as err:
                errors.append(err)
                nursery.cancel_scope.cancel()

        t0 = time.perf_counter_ns()
        async with trio.open_nursery() as nursery:
            for _ in range(streams):
                nursery.start_soon(one, await self.open())
        if errors:
            raise errors[0]
        return {"elapsed_ms": ms_since(t0)}

    async def rr(self, cmd):
        count = int_field(cmd, "count", None, 1 << 32)
        size = int_field(cmd, "size", 64)
        if size == 0 or size > 1 << 20:
            raise BenchError("`size` must be 1..=1048576")
        ms = await self.open()
        r = Reader(ms)
        req = pattern(size)
        warm = min(count // 10, 100)
        samples = []
        clock = time.perf_counter_ns
        for i in range(warm + count):
            t = clock()
            await ms.write(req)
            await r.exact(size)
            if i >= warm:
                samples.append(clock() - t)
        await ms.close()
        await r.to_eof()
        samples.sort()

        def pick(q):
            if not samples:
                return 0.0
            return samples[int((len(samples) - 1) * q + 0.5)] / 1e3

        return {"p50_us": pick(0.5), "p99_us": pick(0.99), "count": len(samples)}

    async def open_loop(self, cmd, hold):
        count = int_field(cmd, "count", None, 1 << 32)
        one = b"\x07"
        t0 = time.perf_counter_ns()
        for _ in range(count):
            ms = await self.open()
            await ms.write(one)
            r = Reader(ms)
            await r.exact(1)
            if hold:
                self.held.append(ms)
                continue
            await ms.close()
            await r.to_eof()
        out = {"elapsed_ms": ms_since(t0)}
        if hold:
            out["held"] = count
        return out

    async def run(self, cmd):
        name = cmd["cmd"]
        try:
            if name == "bench-send":
                out = await self.send(cmd)
            elif name == "bench-rr":
                out = await self.rr(cmd)
            else:
                out = await self.open_loop(cmd, name == "bench-hold")
        except Exception as err:
            msg = str(err) if isinstance(err, BenchError) else f"{type(err).__name__}: {err}"
            emit(event="error", id=cmd.get("id"), message=msg)
            return
        emit(event="ok", id=cmd.get("id"), **out)


# --- More sessions (docs/adapters.md, "More sessions: `accept-sessions`") ---
# Extra server sessions on the kept listener: created by new_session() and run
# by run_muxer() like the first one, with the default echo, no events and no
# commands. The library's and the transport's errors end one silently (stderr
# only); anything else is a crash, as on the first session.

# accept() errors worth waiting out (descriptors or memory short for a while,
# a connection that died in the backlog) instead of giving up accepting.
ACCEPT_RETRY = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS, errno.ECONNABORTED, errno.EPROTO}


async def echo_quietly(ms):
    """The default echo on a stream of an extra session, without events:
    read() as on the first session, what was read is queued (echo never
    slows reading down) and written back in order, FIN once EOF was read and
    everything written. A reset or the session's end stops it; only the
    library's and the transport's error types are taken for that."""
    send, recv = trio.open_memory_channel(math.inf)

    async def writer():
        async for data in recv:
            await ms.write(data)
        await ms.close()

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer)
            with send:
                while True:
                    try:
                        data = await ms.read()
                    except MuxedStreamEOF:
                        if ms.reset_received:  # an RST seen as EOF (README)
                            nursery.cancel_scope.cancel()
                        break
                    if not data:
                        break
                    send.send_nowait(bytes(data))
    except Exception as err:
        if not is_session_end(err):
            raise  # not a stream or session error: serve_extra crashes


async def serve_extra(conn, n):
    """One session of `accept-sessions`, until its muxer is over; then its
    echo tasks are cancelled and the TCP stream closed."""
    what = f"extra session {n}"
    sess = new_session(conn, False)
    try:
        async with trio.open_nursery() as nursery:
            async def watch():
                err = await run_muxer(sess, f"exception escaped the muxer ({what})")
                log(f"{what} ended" + (f": {type(err).__name__}: {err}" if err is not None else ""))
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch)
            await sess.event_started.wait()
            while True:
                try:
                    ms = await sess.accept_stream()
                except MuxedConnUnavailable:
                    break  # the session is ending: watch() cancels the rest
                nursery.start_soon(echo_quietly, ms)
    except Exception as err:
        if not is_session_end(err):
            crash(f"exception escaped {what}", err)
        log(f"{what}: {type(err).__name__}: {err}")
    finally:
        with trio.CancelScope(shield=True):
            await conn.aclose()  # idempotent; the muxer usually closed it


class Listener:
    """The server's listening socket, kept open after the first connection;
    later connections wait in its backlog until `accept-sessions`."""

    def __init__(self, sock, nursery):
        self.sock = sock
        self.nursery = nursery
        self.first_done = trio.Event()
        self.wanted = 0
        self.extra = 0
        self.accepting = False

    async def accept(self):
        conn_sock, _ = await self.sock.accept()
        return trio.SocketStream(conn_sock)  # sets TCP_NODELAY

    async def serve_first(self, adapter):
        try:
            conn = await self.accept()
        finally:
            self.first_done.set()
        await adapter.run_session(conn, False)

    def more(self, count):
        self.wanted += count
        if self.wanted and not self.accepting:
            self.accepting = True
            self.nursery.start_soon(self.accept_more)

    async def accept_more(self):
        # One task accepts at a time (trio refuses two waiting on a socket),
        # and not before the first session has its connection.
        await self.first_done.wait()
        while self.wanted > 0:
            try:
                conn = await self.accept()
            except OSError as err:
                if err.errno in ACCEPT_RETRY:
                    log(f"accept-sessions: accept failed, retrying: {err}")
                    await trio.sleep(0.1)
                    continue
                log(f"accept-sessions: accept failed, accepting no more: {err}")
                self.wanted = 0
                break
            self.wanted -= 1
            self.extra += 1
            self.nursery.start_soon(serve_extra, conn, self.extra)
        self.accepting = False


class Adapter:
    def __init__(self, nursery):
        self.nursery = nursery
        self.sess = None
        self.ready = trio.Event()
        self.changed = trio.Event()
        self.accept_on = True
        self.read_all = True
        self.echo_all = True
        self.streams = {}
        self.accept_scope = None
        self.by_us = False
        self.bench_mode = None  # None (off), "sink" or "echo"
        self.bench = BenchClient(self)
        self.listener = None  # server role: the Listener

    def notify(self):
        self.changed.set()
        self.changed = trio.Event()

    def read_enabled(self, s):
        return s.read_override if s.read_override is not None else self.read_all

    def echo_enabled(self, s):
        if s.echo_override is not None:
            return s.echo_override
        return self.echo_all and not s.opened

    def register(self, ms, opened):
        s = Stream(self, ms, opened)
        self.streams[s.id] = s
        self.nursery.start_soon(s.writer)
        return s

    async def run_session(self, conn, client, announce=None):
        self.sess = new_session(conn, client)
        self.nursery.start_soon(self._watch)
        await self.sess.event_started.wait()
        if announce is not None:
            announce()
        self.ready.set()
        self.nursery.start_soon(self.accept_loop)

    async def _watch(self):
        reason = "session ended (peer closed TCP, sent Go Away, or an error; see stderr)"
        err = await run_muxer(self.sess)
        if err is not None:
            reason = f"session failed: {type(err).__name__}: {err}"
        if self.by_us:
            reason = "closed by the session-close command"
        emit(event="closed", reason=reason)
        self.notify()

    async def accept_loop(self):
        while True:
            while not self.accept_on:
                await self.changed.wait()
            # receive() on a trio memory channel is cancellation-safe, so
            # no-accept can cancel a pending accept without losing a stream.
            with trio.CancelScope() as scope:
                self.accept_scope = scope
                try:
                    ms = await self.sess.accept_stream()
                except MuxedConnUnavailable:
                    return
                finally:
                    self.accept_scope = None
            if scope.cancelled_caught:
                continue
            if self.bench_mode is not None:
                self.nursery.start_soon(bench_serve_stream, ms, self.bench_mode)
                continue
            s = self.register(ms, opened=False)
            emit(event="accepted", stream=s.id)
            self.nursery.start_soon(s.reader)

    def lookup(self, cmd):
        sid = cmd.get("stream")
        s = self.streams.get(sid) if isinstance(sid, int) else None
        if s is None:
            emit(event="error", id=cmd.get("id"), message=f"unknown stream {sid}")
        return s

    def set_gate(self, cmd, read, on):
        sid = cmd.get("stream")
        if sid is not None:
            s = self.lookup(cmd)
            if s is None:
                return
            if read:
                s.read_override = on
            else:
                s.echo_override = on
        else:
            for s in self.streams.values():
                if read:
                    s.read_override = None
                else:
                    s.echo_override = None
            if read:
                self.read_all = on
            else:
                self.echo_all = on
        self.notify()
        emit(event="ok", id=cmd.get("id"))

    async def do_open(self, cmd, data):
        await self.ready.wait()
        try:
            ms = await self.sess.open_stream()
        except Exception as err:
            emit(event="error", id=cmd.get("id"), message=f"{type(err).__name__}: {err}")
            return
        s = self.register(ms, opened=True)
        emit(event="ok", id=cmd.get("id"), stream=s.id)
        if data is not None:
            s.jobs_send.send_nowait(("open-write", data, None))
        self.nursery.start_soon(s.reader)

    async def do_reset(self, cmd, s):
        try:
            await s.ms.reset()
        except Exception as err:
            emit(event="error", id=cmd.get("id"), message=f"{type(err).__name__}: {err}")
            return
        emit(event="ok", id=cmd.get("id"))

    async def do_session_close(self, cmd):
        await self.ready.wait()
        self.by_us = True
        try:
            await self.sess.close()
        except Exception as err:
            emit(event="error", id=cmd.get("id"), message=f"{type(err).__name__}: {err}")
            return
        emit(event="ok", id=cmd.get("id"))

    def bench_command(self, cmd):
        name = cmd["cmd"]
        cid = cmd.get("id")
        if name == "bench-serve":
            mode = cmd.get("mode")
            if mode not in ("sink", "echo", "off"):
                emit(event="error", id=cid, message="`mode` must be sink, echo or off")
                return
            self.bench_mode = None if mode == "off" else mode
            emit(event="ok", id=cid)
        elif name == "rss":
            try:
                emit(event="ok", id=cid, rss_bytes=rss_bytes())
            except (OSError, ValueError, BenchError) as err:
                emit(event="error", id=cid, message=f"cannot read VmRSS: {err}")
        else:
            self.nursery.start_soon(self.bench.run, cmd)

    def accept_sessions(self, cmd):
        cid = cmd.get("id")
        if self.listener is None:
            emit(event="unsupported", id=cid, message="accept-sessions is for the server role only")
            return
        try:
            count = int_field(cmd, "count", None, 1 << 32)
        except BenchError as err:
            emit(event="error", id=cid, message=str(err))
            return
        self.listener.more(count)
        emit(event="ok", id=cid)

    def execute(self, cmd):
        name = cmd.get("cmd")
        cid = cmd.get("id")
        if name == "open":
            # with hex or len: written at once on the new stream, after the
            # reply (a failure is reported as for echo data)
            data = None
            if "hex" in cmd or "len" in cmd:
                try:
                    data = write_bytes(cmd)
                except ValueError as err:
                    emit(event="error", id=cid, message=str(err))
                    return
            self.nursery.start_soon(self.do_open, cmd, data)
        elif name == "write":
            s = self.lookup(cmd)
            if s is None:
                return
            try:
                data = write_bytes(cmd)
            except ValueError as err:
                emit(event="error", id=cid, message=str(err))
                return
            s.jobs_send.send_nowait(("write", data, cmd))
        elif name == "close":
            s = self.lookup(cmd)
            if s is not None:
                s.jobs_send.send_nowait(("close", None, cmd))
        elif name == "reset":
            s = self.lookup(cmd)
            if s is not None:
                self.nursery.start_soon(self.do_reset, cmd, s)
        elif name == "ping":
            emit(event="unsupported", id=cid,
                 message=f"{IMPL} has no public ping API (it pings on its own to measure RTT)")
        elif name == "goaway":
            emit(event="unsupported", id=cid,
                 message=f"{IMPL} sends Go Away only from close(), which also ends the session")
        elif name == "session-close":
            self.nursery.start_soon(self.do_session_close, cmd)
        elif name in ("accept", "no-accept"):
            self.accept_on = name == "accept"
            if not self.accept_on and self.accept_scope is not None:
                self.accept_scope.cancel()
            self.notify()
            emit(event="ok", id=cid)
        elif name in ("read", "no-read"):
            self.set_gate(cmd, True, name == "read")
        elif name in ("echo", "no-echo"):
            self.set_gate(cmd, False, name == "echo")
        elif name == "accept-sessions":
            self.accept_sessions(cmd)
        elif name == "crash":
            self.nursery.start_soon(deliberate_crash)
        elif name in BENCH_CMDS:
            self.bench_command(cmd)
        else:
            emit(event="unsupported", id=cid, message=f"unknown command {name!r}")


def max_streams():
    """YAMUX_MAX_STREAMS (set by `yamuxctl bench`), or None."""
    v = os.environ.get("YAMUX_MAX_STREAMS", "")
    try:
        n = int(v)
    except ValueError:
        return None
    return n if n > 0 else None


def parse_args(argv):
    opts = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--"):
            log(f"unexpected argument {arg!r}")
            sys.exit(EXIT_UNSUPPORTED)
        name, eq, val = arg[2:].partition("=")
        if not eq:
            if i + 1 >= len(argv):
                log(f"option --{name} needs a value")
                sys.exit(EXIT_UNSUPPORTED)
            i += 1
            val = argv[i]
        if name not in ("role", "addr"):
            log(f"unknown option --{name}")
            sys.exit(EXIT_UNSUPPORTED)
        opts[name] = val
        i += 1
    role, addr = opts.get("role"), opts.get("addr")
    if role not in ("server", "client"):
        log(f"unsupported role {role!r}")
        sys.exit(EXIT_UNSUPPORTED)
    if not addr:
        log("--addr is required")
        sys.exit(EXIT_UNSUPPORTED)
    host, _, port = addr.rpartition(":")
    host = host.strip("[]")
    try:
        port = int(port)
    except ValueError:
        log(f"bad --addr {addr!r}")
        sys.exit(EXIT_UNSUPPORTED)
    return role, host, port


def fmt_addr(sockname):
    host, port = sockname[0], sockname[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def read_commands(adapter):
    while True:
        # abandon_on_cancel: a crash in another task ends the nursery at once
        # instead of waiting for the next line of stdin.
        line = await trio.to_thread.run_sync(sys.stdin.buffer.readline, abandon_on_cancel=True)
        if not line:
            return
        line = line.strip()
        if not line:
            continue
        try:
            cmd = json.loads(line)
            if not isinstance(cmd, dict):
                raise ValueError("not an object")
        except ValueError as err:
            emit(event="log", message=f"ignored a line that is not a JSON command: {err}")
            continue
        adapter.execute(cmd)


async def main(role, host, port):
    async with trio.open_nursery() as nursery:
        adapter = Adapter(nursery)
        if role == "server":
            family = trio.socket.AF_INET6 if ":" in host else trio.socket.AF_INET
            sock = trio.socket.socket(family, trio.socket.SOCK_STREAM)
            sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_REUSEADDR, 1)
            await sock.bind((host, port))
            # A backlog for the many connections `accept-sessions` may be
            # asked for; the listener stays open until the process ends.
            sock.listen(trio.socket.SOMAXCONN)
            adapter.listener = Listener(sock, nursery)
            emit(event="ready", addr=fmt_addr(sock.getsockname()))
            nursery.start_soon(adapter.listener.serve_first, adapter)
        else:
            conn = await trio.open_tcp_stream(host, port)
            await adapter.run_session(
                conn, True, lambda: emit(event="ready", addr=fmt_addr(conn.socket.getsockname()))
            )
        await read_commands(adapter)
        # stdin is over: leave at once (the contract allows 2 s).
        sys.stdout.flush()
        os._exit(0)


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
    role, host, port = parse_args(sys.argv[1:])
    try:
        trio.run(main, role, host, port)
    except Exception as err:  # escaped every task: the adapter's process dies
        if is_session_end(err):  # e.g. bind or connect failed: not a crash
            log(f"{type(err).__name__}: {err}")
            sys.exit(1)
        crash("uncaught exception", err)
    sys.stdout.flush()
    os._exit(0)
