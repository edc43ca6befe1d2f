"""Conformance adapter for py-libp2p's Yamux (docs/adapters.md).

Runs `libp2p.stream_muxer.yamux.Yamux` directly over a plain TCP connection
(no multistream-select, no secure channel) and drives its application side
from NDJSON commands on stdin, reporting NDJSON events on stdout.
"""

import json
import logging
import math
import os
import sys

import trio
from libp2p.io.trio import TrioTCPStream
from libp2p.peer.id import ID
from libp2p.stream_muxer.exceptions import (
    MuxedConnUnavailable,
    MuxedStreamEOF,
    MuxedStreamReset,
)
from libp2p.stream_muxer.yamux.yamux import Yamux

EXIT_UNSUPPORTED = 89
IMPL = "py-libp2p Yamux"


def emit(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def log(msg):
    print(f"adapter: {msg}", file=sys.stderr, flush=True)


class RawConn(TrioTCPStream):
    """The trio TCP stream type py-libp2p uses, standing in for the secure
    connection Yamux expects: Yamux only reads, writes, closes it and asks
    `is_initiator`."""

    def __init__(self, stream, is_initiator):
        super().__init__(stream)
        self.is_initiator = is_initiator


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
                    what = "echo half-close" if kind == "close" else "echo write"
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
        self.sess = Yamux(RawConn(conn, client), ID(b"yamux-conformance-peer"), is_initiator=client)
        self.nursery.start_soon(self._watch)
        await self.sess.event_started.wait()
        if announce is not None:
            announce()
        self.ready.set()
        self.nursery.start_soon(self.accept_loop)

    async def _watch(self):
        reason = "session ended (peer closed TCP, sent Go Away, or an error; see stderr)"
        try:
            await self.sess.start()  # returns when the session is over
        except Exception as err:  # report it as the end of the session, not a crash
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

    async def do_open(self, cmd):
        await self.ready.wait()
        try:
            ms = await self.sess.open_stream()
        except Exception as err:
            emit(event="error", id=cmd.get("id"), message=f"{type(err).__name__}: {err}")
            return
        s = self.register(ms, opened=True)
        emit(event="ok", id=cmd.get("id"), stream=s.id)
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

    def execute(self, cmd):
        name = cmd.get("cmd")
        cid = cmd.get("id")
        if name == "open":
            self.nursery.start_soon(self.do_open, cmd)
        elif name == "write":
            s = self.lookup(cmd)
            if s is None:
                return
            if isinstance(cmd.get("hex"), str):
                try:
                    data = bytes.fromhex(cmd["hex"])
                except ValueError as err:
                    emit(event="error", id=cid, message=f"bad hex: {err}")
                    return
            elif isinstance(cmd.get("len"), int) and cmd["len"] >= 0:
                data = bytes(i % 251 for i in range(cmd["len"]))
            else:
                emit(event="error", id=cid, message="write needs hex or len")
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
        else:
            emit(event="unsupported", id=cid, message=f"unknown command {name!r}")


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
        line = await trio.to_thread.run_sync(sys.stdin.buffer.readline)
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
            sock.listen(1)
            emit(event="ready", addr=fmt_addr(sock.getsockname()))

            async def serve():
                conn_sock, _ = await sock.accept()
                sock.close()
                await adapter.run_session(trio.SocketStream(conn_sock), False)

            nursery.start_soon(serve)
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
    except OSError as err:
        log(f"{err}")
        sys.exit(1)
    sys.stdout.flush()
    os._exit(0)
