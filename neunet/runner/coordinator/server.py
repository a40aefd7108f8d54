"""The coordinator's asyncio server: carries frames between workers and the scheduling state.

Each worker connection is authenticated (`auth`), then its messages become events for
`state.Scheduler`, and the instructions it returns are carried out in order: tasks and
cancellations are sent, task states are written to the run directory through a single store
thread (so the event loop never waits on a disk), and results are streamed chunk by chunk (into
memory when small, else into a temporary file in the run directory, fsynced and renamed to
`store.data_path(tid)`) and recorded before the worker gets its ``ack``. A connection that
breaks the protocol is closed with a logged reason; everyone else is served on.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import time

from neunet.runner.coordinator import scheduler as S
from neunet.runner.coordinator import uploads
from neunet.runner.coordinator.store_writer import JournalWriter
from neunet.runner.wire import auth, frames, streams
from neunet.runner.wire.batching import BatchedWriter

log = logging.getLogger("neunet.coordinator")

# Seconds allowed for a connection to complete the handshake.
HANDSHAKE_TIMEOUT_S = 10.0
# Seconds between Tick events (heartbeat expiry checks).
TICK_S = 0.25
# Results at least this large get a log line with their transfer time (bytes).
LOG_TRANSFER_MIN_BYTES = 1024 * 1024
# Failure kinds a worker may report; anything else counts as a fault.
FAILURE_KINDS = ("fault", "timeout")


class _Conn:
    """One worker's connection: its frames go out batched, one write per loop pass (e.g. the
    acks of a journal batch: one syscall, one wake-up of the worker)."""

    def __init__(self, wid: str, name: str, writer, spooled: bool = False):
        self.wid, self.name, self.writer = wid, name, writer
        self.spooled = spooled  # shares the coordinator's spool: large results are moved
        self.uploads: dict = {}
        self.out = BatchedWriter(writer)
        self.send = self.out.send


class Coordinator:
    """One sweep's server.

    Parameters
    ----------
    sched : state.Scheduler
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
    """

    def __init__(self, sched, store, token, filter_spec=None, host="127.0.0.1", port=22222,
                 max_frame_bytes=frames.MAX_FRAME_BYTES, encode_pm=None, local_spool=None):
        self.sched, self.store = sched, store
        self.token = token or b""
        self.filter_spec = filter_spec
        self.host, self.port = host, port
        self.max_frame_bytes = max_frame_bytes
        self.encode_pm = encode_pm or (lambda pm: pm)
        self.local_spool = os.path.realpath(local_spool) if local_spool else None
        self.conns: dict[str, _Conn] = {}
        self.done = asyncio.Event()
        self.stop = asyncio.Event()
        self.interrupted = False
        self.server = None
        self.journal = None
        self._acks_after: dict = {}  # (wid, tid) -> future of the record it must follow
        self.dispatched = False
        self.started_s = time.monotonic()
        self.real_s_total = 0.0
        self.est_s_done = 0.0

    # ------------------------------------------------------------ lifecycle
    async def start(self, sock=None) -> int:
        """Listen (SO_REUSEADDR), or serve the already bound `sock`; return the port."""
        self.journal = JournalWriter(self.store)
        where = dict(sock=sock) if sock is not None else dict(
            host=self.host, port=self.port, reuse_address=True)
        self.server = await asyncio.get_running_loop().create_server(
            lambda: streams.FrameReader(self._on_connect), **where)
        self.port = self.server.sockets[0].getsockname()[1]
        log.info("listening on %s:%d", self.host, self.port)
        return self.port

    async def run(self) -> None:
        """Serve until every task is closed or a stop is requested."""
        ticker = asyncio.ensure_future(self._ticks())
        await self.handle(S.Tick(time.monotonic()))  # an empty sweep is done at once
        waiters = [asyncio.ensure_future(self.done.wait()),
                   asyncio.ensure_future(self.stop.wait())]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for w in waiters + [ticker]:
            w.cancel()

    async def shutdown(self) -> None:
        """Stop dispatch, tell workers, close the listener, flush the journal."""
        await self.handle(S.Stop(time.monotonic()))
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
            await self.handle(S.Tick(time.monotonic()))

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
            self._ack(ins.wid, ins.tid)
        elif kind is S.Record:
            self._record(ins)
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
        self.journal.status(ins.tid, ins.status, fields)

    def _ack(self, wid: str, tid: str) -> None:
        fut = self._acks_after.pop((wid, tid), None)
        if fut is None:
            self._send(wid, {"t": "ack", "tid": tid})
            return

        def after(f):  # ack only once the result is durable; never if writing it failed
            if not f.cancelled() and f.exception() is None:
                self._send(wid, {"t": "ack", "tid": tid})
        fut.add_done_callback(after)

    # ------------------------------------------------------------ results
    def _record(self, ins: S.Record) -> None:
        up = ins.upload
        task = self.sched.tasks.get(ins.tid)
        self.real_s_total += ins.real_s
        self.est_s_done += task.est_s if task is not None else 0.0
        fut = self.journal.record(ins.tid, up.summary if up else {}, ins.real_s,
                                  self._name(ins.wid), up.tmp if up else None,
                                  bytes(up.buf) if up is not None and up.buf else None,
                                  up.digest if up is not None else None)
        self._acks_after[(ins.wid, ins.tid)] = fut
        if up is not None and up.size >= LOG_TRANSFER_MIN_BYTES:
            how = "moved from the local spool" if up.spooled else "received"
            fut.add_done_callback(lambda f, up=up, how=how: log.info(
                "result %s: %.1f MB %s and stored in %.3f s", up.tid, up.size / 1e6, how,
                time.monotonic() - up.t0))

    async def _on_result(self, conn: _Conn, msg: dict) -> None:
        await uploads.discard(conn.uploads.pop(msg["tid"], None))
        spool = self.local_spool if conn.spooled else None
        up = uploads.begin(msg, os.path.join(self.store.run_dir, "data"), spool)
        conn.uploads[up.tid] = up

    async def _on_chunk(self, conn: _Conn, msg: dict) -> None:
        uploads.add_chunk(conn.uploads.get(msg["tid"]), msg)

    async def _on_end(self, conn: _Conn, msg: dict) -> None:
        up = conn.uploads.pop(msg["tid"], None)
        await uploads.finish(up, msg["tid"])
        await self.handle(S.ResultIn(conn.wid, up.tid, up.real_s, time.monotonic(), up))

    # ------------------------------------------------------------ connections
    async def _on_connect(self, reader, writer) -> None:
        peer = writer.get_extra_info("peername")
        try:
            hello = await asyncio.wait_for(self._handshake(reader, writer), HANDSHAKE_TIMEOUT_S)
        except (frames.ProtocolError, auth.AuthError, asyncio.TimeoutError,
                ConnectionError) as exc:
            log.warning("connection from %s refused: %s", peer, exc or "handshake timed out")
            writer.close()
            return
        conn = _Conn(hello["worker"], hello["name"], writer, hello["spooled"])
        old = self.conns.get(conn.wid)
        if old is not None:
            old.writer.close()
        self.conns[conn.wid] = conn
        log.info("worker %s joined from %s with %d slots", conn.name, peer, hello["slots"])
        await self.handle(S.Join(conn.wid, conn.name, hello["slots"], time.monotonic(),
                                 _strs(hello["running"]), _strs(hello["held"])))
        await self._serve(conn, reader)

    async def _handshake(self, reader, writer) -> dict:
        nonce = auth.new_nonce()
        writer.write(frames.pack({"t": "challenge", "nonce": nonce,
                                    "version": frames.VERSION}))
        await writer.drain()
        hello = await streams.read_message(reader, frames.PREAUTH_FRAME_BYTES)
        if hello is None:
            raise ConnectionError("closed during the handshake")
        if hello["t"] != "hello":
            raise frames.ProtocolError(f"expected hello, got {hello['t']!r}")
        if not auth.check(auth.worker_proof(self.token, nonce, hello["cnonce"]), hello["mac"]):
            raise auth.AuthError("wrong token (HMAC proof did not match)")
        reader.set_limit(self.max_frame_bytes)  # before the worker may send large frames
        hello["spooled"] = self.local_spool is not None and hello.get("spool") == self.local_spool
        writer.write(frames.pack({
            "t": "welcome", "heartbeat_s": 1.0, "filter": self.filter_spec,
            "max_frame": self.max_frame_bytes, "spooled": hello["spooled"],
            "mac": auth.coordinator_proof(self.token, nonce, hello["cnonce"])}))
        await writer.drain()
        return hello

    async def _serve(self, conn: _Conn, reader) -> None:
        reason = "closed the connection"
        try:
            while True:
                msg = await streams.read_message(reader, self.max_frame_bytes)
                if msg is None or msg["t"] == "bye":
                    break
                await self._dispatch(conn, msg)
                await conn.writer.drain()
        except frames.ProtocolError as exc:
            reason = f"protocol error: {exc}"
            log.warning("worker %s: %s; closing its connection", conn.name, exc)
        except ConnectionError as exc:
            reason = f"connection lost: {exc}"
        finally:
            conn.writer.close()
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
            states = {s.get("tid"): s.get("state") for s in msg["slots"] if isinstance(s, dict)}
            await self.handle(S.Heartbeat(wid, now, states))
        elif kind == "request":
            await self.handle(S.Request(wid, msg["n"], now, msg.get("left_s")))
        elif kind == "state":
            await self.handle(S.TaskState(wid, msg["tid"], msg["state"], now))
        elif kind == "result":
            await self._on_result(conn, msg)
        elif kind == "chunk":
            await self._on_chunk(conn, msg)
        elif kind == "end":
            await self._on_end(conn, msg)
        elif kind == "failed":
            fkind = msg["kind"] if msg["kind"] in FAILURE_KINDS else "fault"
            await self.handle(S.Failure(wid, msg["tid"], msg["error"], fkind, now))
        elif kind == "released":
            await self.handle(S.Released(wid, _strs(msg["tids"]), now))
        else:
            raise frames.ProtocolError(f"a worker may not send {kind!r}")


def _strs(items) -> list:
    return [x for x in items if isinstance(x, str)]


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
