"""The sweep worker: N warm simulator slots, heartbeats, result spooling and reconnects.

A worker connects to the coordinator, proves the shared token, and keeps asking to hold
``slots + prefetch`` tasks. Each task runs in a long-lived slot process (`neunet.runner.worker.slot_process`);
a crashing, cancelled or timed-out simulation kills only that process and a fresh one takes its
place. Finished results wait (small ones in memory, large ones as files in the spool
directory) until the coordinator acknowledges them, so when the coordinator goes away the
worker keeps running, reconnects with backoff and delivers them when it is back. Ctrl-c once: stop pulling, hand back waiting tasks,
finish and deliver the running ones, exit; twice: kill the slots, hand their tasks back, exit.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import os
import socket
import tempfile
import time
import uuid

from neunet.runner.wire import auth, frames, streams
from neunet.runner.worker import delivery
from neunet.runner.worker.slot_handle import PIPELINE_DEPTH, Slot, failed_report, short_task
from neunet.runner.worker.slots import SlotRunner

log = logging.getLogger("neunet.worker")

# Seconds between heartbeats.
HEARTBEAT_S = 1.0
# Seconds between checks, once stopping, whether everything is delivered.
STOP_POLL_S = 0.2
# First and largest wait between reconnection attempts (seconds).
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.2, 5.0
# A connection that lasted this long resets the reconnection backoff (seconds).
STABLE_S = 10.0
# Seconds allowed for the handshake.
HANDSHAKE_TIMEOUT_S = 10.0
# Seconds allowed for the first handshake of a local worker (--exit-on-disconnect): its
# coordinator starts it before loading TASKS.py and answers once the sweep is loaded.
LOCAL_HANDSHAKE_TIMEOUT_S = 600.0
class Worker(SlotRunner):
    """The worker's state and its asyncio tasks (see the module docstring)."""

    def __init__(self, host, port, slots, token, spool_dir=None, name=None, prefetch=None,
                 exit_on_disconnect=False, timeout_min_s=300.0, timeout_factor=20.0,
                 prestarted=()):
        self.host, self.port, self.n_slots = host, port, slots
        self.token = token or b""
        self.wid = uuid.uuid4().hex
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.prefetch = slots if prefetch is None else prefetch
        self.own_spool = spool_dir is None  # a temporary spool is removed at exit
        self.spool = spool_dir or tempfile.mkdtemp(prefix="neunet-worker-")
        os.makedirs(self.spool, exist_ok=True)
        self.exit_on_disconnect = exit_on_disconnect
        self.timeout_min_s, self.timeout_factor = timeout_min_s, timeout_factor
        self.slots = [Slot(i) for i in range(slots)]
        self.prestarted = list(prestarted)  # slot.spawn processes the slots adopt first
        self.backlog: collections.deque = collections.deque()
        self.pending: dict = {}   # tid -> reply (done with file, or failed) awaiting ack
        self.writer = None
        self.filter_spec = None
        self.stopping = False     # first ctrl-c: no more pulling
        self.finished = asyncio.Event()
        self.wake = asyncio.Event()
        self.deliver_lock = asyncio.Lock()
        self.cancelled: set = set()
        self.skipped: set = set()  # cancelled while queued in a slot: its result is dropped
        self._jobs: set = set()   # background deliveries
        self._out: list = []      # frames queued in this event-loop pass (one write)
        self._flush_due = self._request_due = False
        self.chunk_bytes = frames.CHUNK_BYTES
        self._connected_once = False
        self.spooled = False      # large results are handed over by name (local worker)
        self.exit_status = 0      # 1 after `fail`
        self.short_work = False   # the last tasks given were short: hold enough to queue them

    # ------------------------------------------------------------ messaging
    def send(self, msg: dict) -> None:
        """Send a message if connected (dropped otherwise: state is re-sent on reconnect)."""
        self._queue(frames.pack(msg))

    def _queue(self, *frames) -> None:
        """Queue frames; all queued in one loop pass go out in one write (one syscall, one
        wake-up of the coordinator)."""
        if self.writer is not None and not self.writer.is_closing():
            self._schedule_flush()
            self._out.extend(frames)

    def _schedule_flush(self) -> None:
        if not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self.flush)

    def request(self) -> None:
        """Ask for tasks up to capacity: once per loop pass, with the capacity at its end."""
        if self.writer is not None and not self.writer.is_closing():
            self._request_due = True
            self._schedule_flush()

    def flush(self) -> None:
        """Write the queued frames now (dropped if the connection went away)."""
        if self._request_due:
            self._request_due = False
            self.send({"t": "request", "n": self.capacity()})
        self._flush_due = False
        out, self._out = self._out, []
        if out and self.writer is not None and not self.writer.is_closing():
            self.writer.write(b"".join(out))

    def capacity(self) -> int:
        """How many tasks this worker wants to hold (running + waiting): nothing until its
        slots have loaded the simulator, so a slow-starting worker does not sit on tasks and
        all slots start together; room for full slot queues while the tasks are short."""
        if self.stopping or not all(s.ready for s in self.slots):
            return 0
        queues = self.n_slots * PIPELINE_DEPTH if self.short_work else 0
        return self.n_slots + self.prefetch + queues

    def held(self) -> list:
        running = [s.task["tid"] for s in self.slots if s.task is not None]
        queued = [t["tid"] for s in self.slots for t in s.queued]
        return running + queued + [t["tid"] for t in self.backlog] + list(self.pending)

    # ------------------------------------------------------------ connection
    async def connect_loop(self) -> None:
        """Connect, serve, and reconnect with backoff until the worker is finished."""
        backoff = BACKOFF_MIN_S
        while not self.finished.is_set():
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError as exc:
                if self.exit_on_disconnect:
                    log.error("cannot reach coordinator: %s", exc)
                    return self._finish()
                log.info("coordinator %s:%s not reachable (%s); retrying in %.1f s",
                         self.host, self.port, exc.strerror or exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(BACKOFF_MAX_S, backoff * 2)
                continue
            connected_s = time.monotonic()
            await self._serve(reader, writer)
            if self.exit_on_disconnect:
                return self._finish(kill=True)
            if time.monotonic() - connected_s > STABLE_S:
                backoff = BACKOFF_MIN_S
            elif not self.finished.is_set():  # dropped at once: do not hammer the coordinator
                await asyncio.sleep(backoff)
                backoff = min(BACKOFF_MAX_S, backoff * 2)

    async def _serve(self, reader, writer) -> None:
        try:
            await asyncio.wait_for(self._handshake(reader, writer), self._handshake_s())
        except (frames.ProtocolError, auth.AuthError, asyncio.TimeoutError,
                ConnectionError) as exc:
            log.error("handshake with coordinator failed: %s", exc or type(exc).__name__)
            writer.close()
            await asyncio.sleep(BACKOFF_MAX_S)
            return
        self.writer, self._connected_once = writer, True
        log.info("connected to %s:%s as %s", self.host, self.port, self.name)
        beat = asyncio.ensure_future(self._heartbeats())
        redeliver = asyncio.ensure_future(self._redeliver())
        try:
            while True:
                msg = await streams.read_message(reader)
                if msg is None:
                    break
                await self._on_message(msg)
        except (frames.ProtocolError, ConnectionError) as exc:
            log.warning("connection to coordinator lost: %s", exc)
        finally:
            beat.cancel()
            redeliver.cancel()
            self.writer = None
            writer.close()
        if not self.finished.is_set():
            log.info("coordinator went away; keeping %d results", len(self.pending))

    def _handshake_s(self) -> float:
        """Seconds the handshake may take: long for a local worker's first connection (its
        coordinator may still be loading the sweep; it closes the connection if it dies)."""
        if self.exit_on_disconnect and not self._connected_once:
            return LOCAL_HANDSHAKE_TIMEOUT_S
        return HANDSHAKE_TIMEOUT_S

    async def _handshake(self, reader, writer) -> None:
        challenge = await streams.read_message(reader, frames.PREAUTH_FRAME_BYTES)
        if challenge is None or challenge["t"] != "challenge":
            raise frames.ProtocolError("coordinator did not send a challenge")
        cnonce = auth.new_nonce()
        running = [s.task["tid"] for s in self.slots if s.task is not None]
        writer.write(frames.pack({
            "t": "hello", "worker": self.wid, "name": self.name, "slots": self.n_slots,
            "cnonce": cnonce, "mac": auth.worker_proof(self.token, challenge["nonce"], cnonce),
            "running": running, "held": self.held(), "spool": os.path.realpath(self.spool)}))
        await writer.drain()
        welcome = await streams.read_message(reader, frames.PREAUTH_FRAME_BYTES)
        if welcome is None or welcome["t"] != "welcome":
            raise auth.AuthError("coordinator refused the token")
        expected = auth.coordinator_proof(self.token, challenge["nonce"], cnonce)
        if not auth.check(expected, welcome["mac"]):
            raise auth.AuthError("coordinator could not prove it knows the token")
        self.filter_spec = welcome.get("filter")
        self.spooled = welcome.get("spooled") is True  # our spool is the coordinator's
        limit = welcome.get("max_frame")
        if isinstance(limit, int) and limit > 0:  # chunks must fit the coordinator's frames
            self.chunk_bytes = max(4096, min(frames.CHUNK_BYTES, limit - 4096))

    async def _on_message(self, msg: dict) -> None:
        kind = msg["t"]
        if kind == "tasks":
            for task in msg["tasks"]:  # given again after a failure report: run it again
                if self.pending.get(task["tid"], {}).get("t") == "failed":
                    self.pending.pop(task["tid"])
            known = set(self.held())
            self.backlog.extend(t for t in msg["tasks"] if t["tid"] not in known)
            self.short_work = all(short_task(t) for t in msg["tasks"])
            self.wake.set()
        elif kind == "ack":
            self._forget(msg["tid"])
        elif kind == "cancel":
            self._cancel(msg["tid"])
        elif kind == "shutdown":
            self._on_shutdown(msg["mode"])

    def _on_shutdown(self, mode: str) -> None:
        if mode == "done":
            log.info("sweep complete")
            self._finish(kill=True)
        else:
            log.info("coordinator is stopping; will reconnect")

    def _forget(self, tid: str) -> None:
        reply = self.pending.pop(tid, None)
        if reply is not None and reply["t"] == "done" and delivery.in_spool_file(reply):
            try:
                os.unlink(os.path.join(self.spool, f"{tid}.npz"))
            except FileNotFoundError:
                pass
        self.wake.set()

    def _cancel(self, tid: str) -> None:
        self.backlog = collections.deque(t for t in self.backlog if t["tid"] != tid)
        for slot in self.slots:
            if slot.task is not None and slot.task["tid"] == tid:
                self.cancelled.add(tid)
                slot.kill()
            elif any(t["tid"] == tid for t in slot.queued):
                self.skipped.add(tid)  # already in the slot's input: run, result dropped
        if tid in self.pending:
            self._forget(tid)

    async def _heartbeats(self) -> None:
        while True:
            now = time.monotonic()
            states = [{"tid": s.task["tid"], "state": s.state,
                       "elapsed_s": round(now - s.started_s, 3)}
                      for s in self.slots if s.task is not None]
            self.send({"t": "heartbeat", "slots": states})
            self.send({"t": "request", "n": self.capacity()})
            try:
                if self.writer is not None:
                    await self.writer.drain()
            except ConnectionError:
                return
            await asyncio.sleep(HEARTBEAT_S)

    async def _redeliver(self) -> None:
        for tid in list(self.pending):
            await self._deliver(tid)
        self.request()

    # ------------------------------------------------------------ results
    async def _deliver(self, tid: str) -> None:
        """Send a finished task's reply (streaming its file in chunks) if connected."""
        reply = self.pending.get(tid)
        if reply is None or self.writer is None:
            return
        async with self.deliver_lock:
            writer = self.writer
            try:
                if reply["t"] == "done" and not delivery.spool_file_ok(reply, self.spool):
                    reply = self.pending[tid] = _lost(reply)
                if reply["t"] == "failed":
                    self.send(reply)
                else:
                    await delivery.stream_result(writer, reply, self.spool, self.chunk_bytes,
                                                 self._queue, self.flush, self.spooled)
                self.request()
                await writer.drain()
            except (ConnectionError, OSError) as exc:
                log.warning("delivery of %s interrupted: %s", tid, exc)

    # ------------------------------------------------------------ stopping
    def stop(self) -> None:
        """First ctrl-c: stop pulling, hand back waiting tasks, finish the running ones."""
        self.stopping = True
        waiting = [t["tid"] for t in self.backlog]
        self.backlog.clear()
        if waiting:
            self.send({"t": "released", "tids": waiting})
        self.send({"t": "request", "n": 0})
        log.info("stopping: finishing %d running tasks (ctrl-c again to abandon them)",
                 sum(s.task is not None for s in self.slots))
        self.wake.set()

    def abort(self) -> None:
        """Second ctrl-c: kill the slots, hand their tasks back, exit."""
        running = [s.task["tid"] for s in self.slots if s.task is not None]
        running += [t["tid"] for s in self.slots for t in s.queued]
        self.cancelled.update(running)
        if running:
            self.send({"t": "released", "tids": running})
        self._finish(kill=True)

    async def watch_stopping(self) -> None:
        """After a first ctrl-c, finish the worker once nothing runs and all is delivered."""
        while True:
            await asyncio.sleep(STOP_POLL_S)
            if self.stopping and not self.pending and self._slots_idle():
                self._finish()

    def fail(self, reason: str) -> None:
        """Stop this worker for good (exit status 1), with `reason` logged; the coordinator
        queues its tasks again when the connection closes."""
        log.error("%s; stopping this worker", reason)
        self.exit_status = 1
        self._finish(kill=True)

    def _maybe_exit(self) -> None:
        if self.stopping and not self.pending:
            self._finish()

    def _finish(self, kill: bool = False) -> None:
        if kill:
            for slot in self.slots:
                slot.kill()
        self.finished.set()
        self.wake.set()


def _lost(reply: dict) -> dict:
    """The failure report of a result whose spool file is gone (moved by a coordinator that
    stopped before recording it): the task runs again."""
    return failed_report(reply["tid"], "result file lost before delivery (coordinator "
                         "restarted)", "fault", reply["real_s"])
