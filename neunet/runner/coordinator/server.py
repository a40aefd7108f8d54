"""The coordinator's asyncio server: carries frames between workers and the scheduling state.

Each worker connection is admitted and authenticated (`gate`), every later frame is sealed
(`neunet.runner.wire.session`), then its messages become events for the `scheduler`, and the
instructions it returns are carried out in order: tasks and cancellations are sent, task
states are written to the run directory through a single store thread (so the event loop
never waits on a disk), and results are checked (`result_check`: leased to that worker,
numeric summary, bounded size and time), streamed chunk by chunk (into memory when small,
else into a temporary file in the run directory) and checked against their SHA-256
(`uploads`), recorded (`store_writer`), and only once durable is the task finished and the
worker's ``ack`` sent. Memory is bounded: the readers share one `ReadBudget` (what was read
and what waits to be written), and pause while it is spent; while the coordinator is not
reading (budget spent, disk full) nobody is declared dead and nothing is dispatched. A full
disk pauses the sweep with one message and it resumes by itself once there is space. A
connection that breaks the protocol is closed with a logged reason; everyone else is served
on.
"""
from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import signal
import time

from neunet.runner.coordinator import gate, uploads
from neunet.runner.coordinator import scheduler as S
from neunet.runner.coordinator.intake import MAX_RESULT_BYTES, Intake
from neunet.runner.coordinator.store_writer import JournalWriter
from neunet.runner.wire import frames
from neunet.runner.wire.reader import FrameReader, ReadBudget

log = logging.getLogger("neunet.coordinator")

# Seconds between Tick events (heartbeat expiry checks).
TICK_S = 0.25
# Failure kinds a worker may report; anything else counts as a fault.
FAILURE_KINDS = ("fault", "timeout", "input")
# Bytes all connections may hold between their sockets and the disk before reads pause.
READ_BUDGET_BYTES = 64 * 1024 * 1024
# Longest failure text kept from a worker's report (characters).
MAX_ERROR_CHARS = 4000


class _Conn:
    """One worker's connection: its frames go out sealed and batched, one write per loop pass
    (e.g. the acks of a journal batch: one syscall, one wake-up of the worker)."""

    def __init__(self, wid: str, name: str, writer, out, spooled: bool = False):
        self.wid, self.name, self.writer, self.out = wid, name, writer, out
        self.spooled = spooled  # shares the coordinator's spool: large results are moved
        self.uploads: dict = {}
        self.send = out.send


class Coordinator:
    """One sweep's server.

    Parameters
    ----------
    sched : scheduler.Scheduler
        Scheduling state (already replayed from the run directory).
    store : neunet.store.RunStore
        The run directory writer.
    token : bytes or None
        Shared token (None: no authentication secret, loopback only).
    filter_spec : dict or None
        Compiled smart filter sent to workers.
    encode_pm : callable, optional
        Makes a task's parameters msgpack-safe when it is sent (e.g. `neunet.params.plain`);
        done at dispatch, not at start-up, so 100,000 tasks start at once.
    local_spool : str, optional
        The spool directory of the coordinator's own local worker, on the run directory's
        filesystem: a worker that says it spools there delivers large results by name, and
        they are moved into the run directory instead of travelling through the socket.
    max_result_bytes : int
        The largest result accepted (``--max-result-mb``).
    ssl : ssl.SSLContext, optional
        Serve TLS with it (``--tls-cert/--tls-key``).
    """

    def __init__(self, sched, store, token, filter_spec=None, host="127.0.0.1", port=22222,
                 max_frame_bytes=frames.MAX_FRAME_BYTES, encode_pm=None, local_spool=None,
                 max_result_bytes=MAX_RESULT_BYTES, ssl=None):
        self.sched, self.store = sched, store
        self.token = token or b""
        self.filter_spec = filter_spec
        self.host, self.port = host, port
        self.max_frame_bytes, self.max_result_bytes = max_frame_bytes, max_result_bytes
        self.encode_pm = encode_pm or (lambda pm: pm)
        self.local_spool = os.path.realpath(local_spool) if local_spool else None
        self.ssl = ssl
        self.conns: dict[str, _Conn] = {}
        self.done = asyncio.Event()
        self.stop = asyncio.Event()
        self.interrupted = False
        self.server = self.journal = None
        self.gate = gate.Gate()
        self.budget = ReadBudget(READ_BUDGET_BYTES)
        self.intake = Intake(self)
        self.disk_full: str | None = None  # why the sweep is paused, while the disk is full
        self._full_since_s = 0.0
        self._full_sources: set = set()
        self.dispatched = False
        self.started_s = time.monotonic()

    # ------------------------------------------------------------ lifecycle
    async def start(self, sock=None) -> int:
        """Listen (SO_REUSEADDR), or serve the already bound `sock`; return the port."""
        self.journal = JournalWriter(self.store, self.on_disk_full)
        where = dict(sock=sock) if sock is not None else dict(
            host=self.host, port=self.port, reuse_address=True)
        self.server = await asyncio.get_running_loop().create_server(
            lambda: FrameReader(self._on_connect, budget=self.budget, hello_first=True,
                                admit=self.gate.admit), ssl=self.ssl, **where)
        self.port = self.server.sockets[0].getsockname()[1]
        log.info("listening on %s:%d%s", self.host, self.port, " (TLS)" if self.ssl else "")
        return self.port

    async def run(self) -> None:
        """Serve until every task is closed (durably) or a stop is requested."""
        ticker = asyncio.ensure_future(self._ticks())
        await self.handle(S.Tick(time.monotonic()))  # an empty sweep is done at once
        waiters = [asyncio.ensure_future(self.done.wait()),
                   asyncio.ensure_future(self.stop.wait())]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for w in waiters + [ticker]:
            w.cancel()

    async def shutdown(self) -> None:
        """Stop dispatch, write everything queued, then tell the workers (``done`` only when
        every task is closed and durable), close the listener."""
        await self.handle(S.Stop(time.monotonic()))
        await self.journal.flush()
        mode = "done" if self.done.is_set() else "pause"
        for conn in list(self.conns.values()):
            conn.send({"t": "shutdown", "mode": mode})
        await asyncio.gather(*(self._drain(c) for c in list(self.conns.values())),
                             return_exceptions=True)
        self.server.close()
        for conn in list(self.conns.values()):
            conn.writer.close()
        await self.server.wait_closed()
        await self.journal.close()
        for conn in list(self.conns.values()):
            for up in conn.uploads.values():
                await uploads.discard(up)

    async def _drain(self, conn) -> None:
        try:
            await asyncio.wait_for(conn.out.drain(), 2.0)
        except (ConnectionError, asyncio.TimeoutError):
            pass

    async def _ticks(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            now = time.monotonic()
            stalled = self.budget.over or self.disk_full is not None
            if stalled != self.sched.stalled:
                await self.handle(S.Stall(now, stalled))
            await self.handle(S.Tick(now))

    def on_disk_full(self, exc, source="journal") -> None:
        """`source` (the journal, or an upload) found the disk full (`exc`), or could write
        again (None): the sweep pauses while any source is full, with one message each way."""
        was_full = bool(self._full_sources)
        if exc is not None:
            self._full_sources.add(source)
        else:
            self._full_sources.discard(source)
        if self._full_sources and not was_full:
            self.disk_full = f"disk full: {getattr(exc, 'strerror', None) or exc}"
            self._full_since_s = time.monotonic()
            log.error("%s writing to %s: the sweep is paused (nothing is lost) and resumes "
                      "by itself once space is freed", self.disk_full, self.store.run_dir)
        elif was_full and not self._full_sources:
            self.disk_full = None
            log.warning("space again in %s: the sweep resumes after %.0f s paused",
                        self.store.run_dir, time.monotonic() - self._full_since_s)

    # ------------------------------------------------------------ events and instructions
    async def handle(self, event) -> None:
        """Feed one event to the scheduler and carry out its instructions in order."""
        for ins in self.sched.handle(event):
            await self._apply(ins)

    async def _apply(self, ins) -> None:
        kind = type(ins)
        if kind is S.Journal:
            self._journal(ins)
        elif kind is S.Assign:
            tasks = [dict(t, pm=self.encode_pm(t["pm"])) for t in ins.tasks]
            self._send(ins.wid, {"t": "tasks", "tasks": tasks})
            if not self.dispatched:
                self.dispatched = True
                log.info("first task dispatched %.2f s after start",
                         time.monotonic() - self.started_s)
        elif kind is S.Cancel:
            self._send(ins.wid, {"t": "cancel", "tid": ins.tid})
        elif kind is S.Ack:
            self._send(ins.wid, {"t": "ack", "tid": ins.tid})
        elif kind is S.Record:
            self.intake.record(ins)
        elif kind is S.Discard:
            await uploads.discard(ins.upload)
        elif kind is S.DropWorker:
            log.warning("worker %s dropped: %s", self._name(ins.wid), ins.reason)
            conn = self.conns.pop(ins.wid, None)
            if conn is not None:
                conn.writer.close()
        elif kind is S.AllDone:
            self.done.set()

    def _send(self, wid: str, msg: dict) -> None:
        conn = self.conns.get(wid)
        if conn is not None:
            conn.send(msg)

    def _name(self, wid: str) -> str:
        worker = self.sched.workers.get(wid)
        return worker.name if worker is not None else wid

    def _journal(self, ins: S.Journal) -> None:
        fields = dict(ins.fields)
        for key in ("started", "finished"):  # the scheduler's clock is monotonic: store UNIX s
            if key in fields:
                fields[key] = time.time()
        if "worker" in fields and fields["worker"] is not None:
            fields["worker"] = str(fields["worker"])
        if "history" in fields:
            fields["history"] = json.dumps(fields["history"])
        self.journal.status(ins.tid, ins.status, fields)

    # ------------------------------------------------------------ connections
    async def _on_connect(self, reader, writer) -> None:
        peer = writer.get_extra_info("peername")
        try:
            hello, join, out = await asyncio.wait_for(gate.handshake(self, reader, writer),
                                                      gate.HANDSHAKE_TIMEOUT_S)
        except Exception as exc:  # whatever it sent: one line, the connection closed
            if gate.quiet(exc) or not reader.bytes_in:  # it said nothing (a port scan)
                log.debug("connection from %s closed during the handshake: %s", peer, exc)
            else:
                self.gate.refused(peer, str(exc) or type(exc).__name__)
            writer.close()
            reader.discard()
            return
        finally:
            self.gate.release(peer)
        conn = _Conn(hello["worker"], hello["name"], writer, out, hello["spooled"])
        old = self.conns.get(conn.wid)
        if old is not None:
            old.writer.close()
        self.conns[conn.wid] = conn
        log.info("worker %s joined from %s with %d slots", conn.name, peer, hello["slots"])
        await self.handle(S.Join(conn.wid, conn.name, hello["slots"], time.monotonic(),
                                 join["running"], join["held"]))
        await self._serve(conn, reader)

    async def _serve(self, conn: _Conn, reader) -> None:
        reason = "closed the connection"
        try:
            while True:
                msg = await reader.next_message()
                if msg is None or msg["t"] == "bye":
                    break
                await self._dispatch(conn, msg)
                await conn.writer.drain()
        except frames.ProtocolError as exc:
            reason = f"protocol error: {exc}"
            log.warning("worker %s: %s; closing its connection", conn.name, exc)
        except ConnectionError as exc:
            reason = f"connection lost: {exc}"
        except Exception as exc:  # a bug here must cost one connection, not the sweep
            reason = f"internal error: {type(exc).__name__}: {exc}"
            log.exception("worker %s: closing its connection after an internal error",
                          conn.name)
        finally:
            await self._close(conn, reader, reason)

    async def _close(self, conn: _Conn, reader, reason: str) -> None:
        conn.writer.close()
        reader.discard()
        for up in conn.uploads.values():
            await uploads.discard(up)
        conn.uploads.clear()
        if self.conns.get(conn.wid) is conn:
            del self.conns[conn.wid]
            log.info("worker %s %s", conn.name, reason)
            await self.handle(S.Disconnect(conn.wid, time.monotonic()))

    async def _dispatch(self, conn: _Conn, msg: dict) -> None:
        kind, now, wid = msg["t"], time.monotonic(), conn.wid
        if kind == "heartbeat":
            await self.handle(S.Heartbeat(wid, now, _states(msg["slots"])))
        elif kind == "request":
            await self.handle(S.Request(wid, min(max(msg["n"], 0), gate.MAX_SLOTS * 64), now,
                                        _left_s(msg.get("left_s"))))
        elif kind == "state":
            await self.handle(S.TaskState(wid, msg["tid"], msg["state"], now))
        elif kind == "result":
            await self.intake.header(conn, msg)
        elif kind == "chunk":
            await self.intake.chunk(conn, msg)
        elif kind == "end":
            await self.intake.end(conn, msg)
        elif kind == "failed":
            fkind = msg.get("kind") if msg.get("kind") in FAILURE_KINDS else "fault"
            error = msg["error"][-MAX_ERROR_CHARS:]
            await self.handle(S.Failure(wid, msg["tid"], error, fkind, now))
        elif kind == "released":
            await self.handle(S.Released(wid, msg["tids"], now))
        else:
            raise frames.ProtocolError(f"a worker may not send {kind!r}")


def _states(slots: list) -> dict:
    """tid -> state of a heartbeat's slot entries (anything malformed is left out)."""
    return {s["tid"]: s["state"] for s in slots
            if isinstance(s, dict) and frames.valid_tid(s.get("tid"))
            and isinstance(s.get("state"), str)}


def _left_s(value):
    """A request's seconds left (walltime), or None; ProtocolError if not a duration."""
    if value is None:
        return None
    if not math.isfinite(value) or value < 0:
        raise frames.ProtocolError(f"left_s {value!r} is not a duration")
    return float(value)


def install_signals(coord: Coordinator, on_second) -> None:
    """First SIGINT/SIGTERM: graceful stop; second: `on_second()` (exit immediately)."""
    loop = asyncio.get_running_loop()

    def handler():
        if coord.stop.is_set():
            on_second()
        coord.interrupted = True
        coord.stop.set()
        log.warning("stopping: dispatch ended, flushing the journal (ctrl-c again to quit now)")

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, handler)
