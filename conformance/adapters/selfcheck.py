#!/usr/bin/env python3
"""Self-check of a conformance adapter (docs/adapters.md).

Usage: selfcheck.py ADAPTER_DIR_OR_RUN [--streams N] [--size BYTES]

An adapter folder may hold `selfcheck.json`:
  {"size": 1000, "streams": 4,
   "expected_failures": [{"check": "echo on stream", "reason": "..."}]}
sizes override the defaults; a failing check whose name starts with an
expected `check` prefix is reported as `xfail` (with the reason) instead of a
failure, and an expected failure that passes is reported as `XPASS` and
counts as a failure, so the file stays honest.

Starts the adapter once as a server and once as a client of itself and checks
the contract: `--role bogus` exits 89, `ready`, open/write/echo/close on
several streams with checksums, ping, reset, and that the `crash` command
ends the process abnormally with a crash marker on stderr. Prints one line per check and
"N passed, N failed" last; exits 0 when everything passed, 1 otherwise,
2 when the adapter cannot be started. Standard library only.
"""

import argparse
import json
import os
import queue
import subprocess
import sys
import threading
import time

TIMEOUT = 8.0


class Adapter:
    def __init__(self, run, role, addr, name):
        self.name = name
        self.proc = subprocess.Popen(
            [run, "--role", role, "--addr", addr],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.events = queue.Queue()
        self.backlog = []
        self.stderr = []
        self.next_id = 1
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self):
        for line in self.proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                self.events.put(json.loads(line))
            except json.JSONDecodeError:
                self.events.put({"event": "invalid-json", "line": line})
        self.events.put({"event": "stdout-eof"})

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip())

    def send(self, cmd, **fields):
        msg = {"id": self.next_id, "cmd": cmd, **fields}
        self.next_id += 1
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        return msg["id"]

    def wait(self, pred, what, timeout=TIMEOUT):
        """Returns the first event (from the backlog or new) matching pred."""
        for i, ev in enumerate(self.backlog):
            if pred(ev):
                return self.backlog.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name}: timed out waiting for {what}")
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if ev.get("event") == "stdout-eof":
                raise RuntimeError(f"{self.name}: exited while waiting for {what}")
            if pred(ev):
                return ev
            self.backlog.append(ev)

    def reply(self, cid, timeout=TIMEOUT):
        return self.wait(
            lambda e: e.get("id") == cid and e.get("event") in ("ok", "error", "unsupported"),
            f"reply to command {cid}",
            timeout,
        )

    def collect_stream(self, stream, timeout=TIMEOUT):
        """Concatenates data events of a stream until its eof."""
        out = bytearray()
        while True:
            ev = self.wait(
                lambda e: e.get("stream") == stream and e.get("event") in ("data", "eof", "reset", "stream-error"),
                f"data/eof on stream {stream}",
                timeout,
            )
            if ev["event"] == "data":
                out += bytes.fromhex(ev["hex"])
            elif ev["event"] == "eof":
                return bytes(out)
            else:
                raise RuntimeError(f"{self.name}: stream {stream}: {ev}")

    def collect_bytes(self, stream, n, timeout=TIMEOUT):
        """Concatenates data events of a stream until n bytes came."""
        out = bytearray()
        while len(out) < n:
            ev = self.wait(
                lambda e: e.get("stream") == stream and e.get("event") in ("data", "eof", "reset", "stream-error"),
                f"data on stream {stream} ({len(out)} of {n} bytes so far)",
                timeout,
            )
            if ev["event"] != "data":
                raise RuntimeError(f"{self.name}: stream {stream}: {ev} after {len(out)} of {n} bytes")
            out += bytes.fromhex(ev["hex"])
        return bytes(out)

    def stop(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            return self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


# The stderr crash markers of conformance/src/crash.rs (`crash_marker`; a test
# there checks that this copy names the same ones).
CRASH_MARKERS_START = ("panic: ", "fatal error: ", "Node.js v", "YAMUX-ADAPTER-CRASH")
CRASH_MARKERS_CONTAIN = (" panicked at ",)


def crash_marker(line):
    return line.startswith(CRASH_MARKERS_START) or any(m in line for m in CRASH_MARKERS_CONTAIN)


def check_crash(run, check):
    """The crash contract (docs/adapters.md, "Crashes"): `crash` makes the
    adapter die as an implementation bug would, visibly to the runner."""
    server = Adapter(run, "server", "127.0.0.1:0", "crash-peer")
    a = None
    try:
        ready = server.wait(lambda e: e.get("event") == "ready", "server ready")
        a = Adapter(run, "client", ready["addr"], "crash")
        a.wait(lambda e: e.get("event") == "ready", "client ready")
        a.send("crash")
        try:
            code = a.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            check("crash command ends the process", False, "still running 10 s after `crash`")
            return
        time.sleep(0.2)  # the reader threads drain the pipes
        check("crash command ends the process abnormally", code not in (0, 89),
              f"exit code {code}" if code >= 0 else f"signal {-code}")
        markers = [line for line in a.stderr if crash_marker(line)]
        check("crash leaves a crash marker on stderr", bool(markers),
              markers[0] if markers else f"last stderr lines: {a.stderr[-3:]}")
        events = [e for e in list(a.events.queue) + a.backlog if e.get("event") == "crash"]
        if events:
            print(f"info crash event: {events[0].get('message')}")
    except (TimeoutError, RuntimeError, KeyError) as e:
        check("crash command ends the process", False, str(e))
    finally:
        for p in (a, server):
            if p is not None and p.proc.poll() is None:
                p.proc.kill()
                p.proc.wait()


def drain(adapter):
    """Moves the events printed so far into the backlog."""
    try:
        while True:
            ev = adapter.events.get_nowait()
            if ev.get("event") == "stdout-eof":
                adapter.events.put(ev)
                return
            adapter.backlog.append(ev)
    except queue.Empty:
        pass


def check_more_sessions(run, server, client, addr, check):
    """`accept-sessions`: two more clients each get a session that echoes,
    the first session keeps working while they are open and after they end,
    and a client answers `unsupported`."""
    r = client.reply(client.send("accept-sessions", count=1))
    check("accept-sessions in the client role is unsupported", r["event"] == "unsupported", json.dumps(r))
    r = server.reply(server.send("accept-sessions", count=2))
    if r["event"] == "unsupported":
        print("skip accept-sessions (unsupported)")
        return
    check("accept-sessions", r["event"] == "ok", json.dumps(r))
    time.sleep(0.3)
    drain(server)
    seen = len(server.backlog)
    extras = []
    try:
        for k in range(2):
            extra = Adapter(run, "client", addr, f"extra client {k + 1}")
            extras.append(extra)
            extra.wait(lambda e: e.get("event") == "ready", f"extra client {k + 1} ready")
            r = extra.reply(extra.send("open"))
            if r["event"] != "ok":
                check(f"extra session {k + 1}: open", False, json.dumps(r))
                continue
            s = r["stream"]
            data = pattern(1000 + k)
            extra.reply(extra.send("write", stream=s, hex=data.hex()))
            # The bytes, not the FIN: the echo of an extra session is what
            # is checked here (the first session's checks cover the FIN).
            try:
                got = extra.collect_bytes(s, len(data))
                check(f"extra session {k + 1} echoes", got == data, f"{len(got)} of {len(data)} bytes")
            except (TimeoutError, RuntimeError) as e:
                check(f"extra session {k + 1} echoes", False, str(e))
        r = client.reply(client.send("ping"))
        if r["event"] != "unsupported":
            check("the first session answers a ping while two more are open", r["event"] == "ok", json.dumps(r))
    except (TimeoutError, RuntimeError, KeyError) as e:
        check("extra sessions", False, str(e))
    finally:
        for extra in extras:
            extra.stop()
    time.sleep(0.3)
    drain(server)
    printed = server.backlog[seen:]
    check("extra sessions print no events", not printed, json.dumps(printed[:3]))
    check("the server keeps running after the extra sessions end", server.proc.poll() is None,
          f"exit code {server.proc.poll()}")
    r = client.reply(client.send("ping"))
    if r["event"] != "unsupported":
        check("the first session answers a ping after they end", r["event"] == "ok", json.dumps(r))


def pattern(n):
    return bytes(i % 251 for i in range(n))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("adapter")
    ap.add_argument("--streams", type=int)
    ap.add_argument("--size", type=int)
    args = ap.parse_args()
    run = args.adapter
    settings = {}
    if os.path.isdir(run):
        cfg = os.path.join(run, "selfcheck.json")
        if os.path.exists(cfg):
            with open(cfg) as f:
                settings = json.load(f)
        run = os.path.join(run, "run")
    args.streams = args.streams or settings.get("streams", 4)
    args.size = args.size or settings.get("size", 100_000)
    expected = settings.get("expected_failures", [])
    if not os.access(run, os.X_OK):
        print(f"selfcheck: {run} is not an executable", file=sys.stderr)
        return 2

    results = []
    xfails = []

    def check(name, ok, detail=""):
        exp = next((e for e in expected if name.startswith(e["check"])), None)
        if exp is not None and not ok:
            xfails.append(name)
            print(f"xfail {name}: {detail} (expected: {exp['reason']})")
            return
        if exp is not None and ok:
            results.append(False)
            print(f"XPASS {name}: listed as an expected failure ({exp['reason']}) but passed")
            return
        results.append(ok)
        print(f"{'ok  ' if ok else 'FAIL'} {name}{(': ' + detail) if detail else ''}")

    code = subprocess.run([run, "--role", "bogus", "--addr", "127.0.0.1:0"], capture_output=True).returncode
    check("--role bogus exits 89", code == 89, f"exit code {code}")

    server = Adapter(run, "server", "127.0.0.1:0", "server")
    client = None
    try:
        ready = server.wait(lambda e: e.get("event") == "ready", "server ready")
        check("server ready", "addr" in ready, json.dumps(ready))
        server_addr = ready["addr"]
        client = Adapter(run, "client", ready["addr"], "client")
        ready = client.wait(lambda e: e.get("event") == "ready", "client ready")
        check("client ready", "addr" in ready, json.dumps(ready))

        streams = []
        for k in range(args.streams):
            r = client.reply(client.send("open"))
            if r["event"] != "ok" or "stream" not in r:
                check(f"open #{k}", False, json.dumps(r))
                continue
            streams.append(r["stream"])
        check("open gives distinct odd ids", len(set(streams)) == args.streams and all(s % 2 == 1 for s in streams), str(streams))

        payloads = {}
        for k, s in enumerate(streams):
            data = pattern(args.size + k)
            payloads[s] = data
            cid = client.send("write", stream=s, hex=data.hex())
            r = client.reply(cid)
            check(f"write {len(data)} bytes on stream {s}", r["event"] == "ok", json.dumps(r))
            r = client.reply(client.send("close", stream=s))
            check(f"close stream {s}", r["event"] == "ok", json.dumps(r))
        for s in streams:
            try:
                got = client.collect_stream(s)
                check(f"echo on stream {s}", got == payloads[s], f"{len(got)} of {len(payloads[s])} bytes")
            except (TimeoutError, RuntimeError) as e:
                check(f"echo on stream {s}", False, str(e))

        r = client.reply(client.send("ping"))
        if r["event"] == "unsupported":
            print("skip ping (unsupported)")
        else:
            check("ping", r["event"] == "ok" and isinstance(r.get("rtt_ms"), (int, float)), json.dumps(r))

        r = client.reply(client.send("open"))
        if r["event"] == "ok":
            s = r["stream"]
            client.reply(client.send("write", stream=s, len=10))
            r = client.reply(client.send("reset", stream=s))
            if r["event"] == "unsupported":
                print("skip reset (unsupported)")
            else:
                check("reset", r["event"] == "ok", json.dumps(r))
                try:
                    ev = server.wait(
                        lambda e: e.get("stream") == s and e.get("event") in ("reset", "stream-error", "eof"),
                        f"reset seen on stream {s}",
                        10,
                    )
                    check("server sees the reset", ev["event"] in ("reset", "stream-error"), json.dumps(ev))
                except (TimeoutError, RuntimeError) as e:
                    check("server sees the reset", False, str(e))

        r = client.reply(client.send("frobnicate"))
        check("unknown command is unsupported", r["event"] == "unsupported", json.dumps(r))

        check_more_sessions(run, server, client, server_addr, check)
    except (TimeoutError, RuntimeError, KeyError) as e:
        check("protocol", False, str(e))
    finally:
        for a in (client, server):
            if a is None:
                continue
            code = a.stop()
            check(f"{a.name} exits 0 after stdin EOF", code == 0, f"exit code {code}")
            if not all(results) and a.stderr:
                print(f"--- {a.name} stderr (last 20 lines)")
                print("\n".join(a.stderr[-20:]))

    check_crash(run, check)

    passed = sum(results)
    failed = len(results) - passed
    tail = f", {len(xfails)} xfail" if xfails else ""
    print(f"{passed} passed, {failed} failed{tail}")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
