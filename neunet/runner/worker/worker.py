"""The sweep worker's connection: handshake, messages, heartbeats, deliveries and reconnects.

A worker connects to the coordinator, proves the shared token, and keeps asking to hold
``slots + prefetch`` tasks, which its `SlotRunner` (`neunet.runner.worker.slots`) runs in
long-lived slot processes. Finished results wait (small ones in memory, large ones as files
in the spool directory) until the coordinator acknowledges them, so when the coordinator goes
away the worker keeps running, reconnects with backoff and delivers them when it is back.
Ctrl-c once: stop pulling, hand back waiting tasks, finish and deliver the running ones,
exit; twice: kill the slots, hand their tasks back, exit.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import tempfile
import time
import uuid

from neunet.runner.exits import EXIT_USAGE
from neunet.runner.wire import auth, frames, streams
from neunet.runner.wire.batching import BatchedWriter
from neunet.runner.worker import delivery
from neunet.runner.worker.slots import PIPELINE_DEPTH, SlotRunner, failed_report, short_task
from neunet.store.schema import PULLING

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
# Longest spool path sent in the hello (it must fit the coordinator's pre-auth frame limit).
MAX_SPOOL_CHARS = 1024
class Refused(Exception):
    """The coordinator refused this worker (or failed to prove itself): retrying cannot help,
    the worker exits with status 2 and the message says what to pass."""


class Worker:
    """The worker's connection and its asyncio tasks (see the module docstring); its slots
    are `runner` (a `SlotRunner`)."""

    def __init__(self, host, port, slots, token, spool_dir=None, name=None, prefetch=None,
                 exit_on_disconnect=False, timeout_min_s=300.0, timeout_factor=20.0,
                 prestarted=(), tls=None):
        self.host, self.port, self.n_slots = host, port, slots
        self.tls = tls  # (ssl context, the name the coordinator's certificate must carry)
        self.token = token or b""
        self.wid = uuid.uuid4().hex
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.prefetch = slots if prefetch is None else prefetch
        self.own_spool = spool_dir is None  # a temporary spool is removed at exit
        self.spool = spool_dir or tempfile.mkdtemp(prefix="neunet-worker-")
        os.makedirs(self.spool, exist_ok=True)
        self.exit_on_disconnect = exit_on_disconnect
        self.finished = asyncio.Event()
        self.runner = SlotRunner(slots, self.spool, self, timeout_min_s, timeout_factor,
                                 prestarted)
        self.pending: dict = {}   # tid -> reply (done with file, or failed) awaiting ack
        self.n_replies: dict = {}  # reply kind ("done", "failed") -> tasks its slots ended
        self.out: BatchedWriter | None = None  # the connection's frames, None when away
        self.stopping = False     # first ctrl-c: no more pulling
        self.deliver_lock = asyncio.Lock()
        self._jobs: set = set()   # background deliveries
        self._request_due = False
        self.chunk_bytes = frames.CHUNK_BYTES
        self._connected_once = False
        self.spooled = False      # large results are handed over by name (local worker)
        self.exit_status = 0      # 1 after `fail`
        self.short_work = False   # the last tasks given were short: hold enough to queue them

    # ------------------------------------------------------------ messaging
    def send(self, msg: dict) -> None:
        """Send a message if connected (dropped otherwise: state is re-sent on reconnect)."""
        if self.out is not None:
            self.out.send(msg)

    def request(self) -> None:
        """Ask for tasks up to capacity: once per loop pass, with the capacity at its end."""
        if self.out is not None and not self.out.closing:
            self._request_due = True
            self.out.schedule()

    def _before_flush(self) -> None:
        if self._request_due:
            self._request_due = False
            self.send({"t": "request", "n": self.capacity()})

    def flush(self) -> None:
        """Write the queued frames now (dropped if the connection went away)."""
        if self.out is not None:
            self.out.flush()

    def capacity(self) -> int:
        """How many tasks this worker wants to hold (running + waiting): nothing until its
        slots have loaded the simulator, so a slow-starting worker does not sit on tasks and
        all slots start together; room for full slot queues while the tasks are short."""
        if self.stopping or not self.runner.ready():
            return 0
        queues = self.n_slots * PIPELINE_DEPTH if self.short_work else 0
        return self.n_slots + self.prefetch + queues

    def held(self) -> list:
        """Tids of every task this worker holds: in its slots, its backlog, or delivered
        but not yet acknowledged."""
        return self.runner.held() + list(self.pending)

    def take_reply(self, tid: str, reply: dict) -> None:
        """A slot finished `tid`: keep its reply until acknowledged and deliver it now (the
        slot goes on meanwhile)."""
        self.pending[tid] = reply
        self.n_replies[reply["t"]] = self.n_replies.get(reply["t"], 0) + 1
        if reply["t"] == "done" and delivery.in_spool_file(reply):
            self.send({"t": "state", "tid": tid, "state": PULLING})  # a file to stream
        job = asyncio.ensure_future(self._deliver(tid))
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    # ------------------------------------------------------------ connection
    async def connect_loop(self) -> None:
        """Connect, serve, and reconnect with backoff until the worker is finished."""
        backoff = BACKOFF_MIN_S
        while not self.finished.is_set():
            try:
                reader, writer = await self._open()
            except ssl.SSLCertVerificationError as exc:  # not our coordinator: say so, exit 2
                log.error("the coordinator at %s failed the TLS check: %s (check --tls-ca and "
                          "--tls-server-name)", self._where(), exc.verify_message or exc)
                self.exit_status = EXIT_USAGE
                return self._finish(kill=True)
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
            out = await asyncio.wait_for(self._handshake(reader, writer), self._handshake_s())
        except Refused as exc:  # the same answer every time: say what to do, exit 2
            log.error("%s", exc)
            self.exit_status = EXIT_USAGE
            writer.close()
            return self._finish(kill=True)
        except (frames.ProtocolError, auth.AuthError, asyncio.TimeoutError,
                ConnectionError) as exc:
            log.error("handshake with coordinator failed: %s", exc or type(exc).__name__)
            writer.close()
            await asyncio.sleep(BACKOFF_MAX_S)
            return
        self.out, self._connected_once = out, True
        log.info("connected to %s:%s as %s", self.host, self.port, self.name)
        beat = asyncio.ensure_future(self._heartbeats())
        redeliver = asyncio.ensure_future(self._redeliver())
        try:
            while True:
                msg = await streams.read_message(reader, session=out.session)
                if msg is None:
                    break
                await self._on_message(msg)
        except (frames.ProtocolError, ConnectionError) as exc:
            log.warning("connection to coordinator lost: %s", exc)
        finally:
            beat.cancel()
            redeliver.cancel()
            self.out = None
            writer.close()
        if not self.finished.is_set():
            log.info("coordinator went away; keeping %d results", len(self.pending))

    async def _open(self) -> tuple:
        """A connection to the coordinator (TLS, checked, when configured)."""
        if self.tls is None:
            return await asyncio.open_connection(self.host, self.port)
        context, name = self.tls
        return await asyncio.open_connection(self.host, self.port, ssl=context,
                                             server_hostname=name)

    def _handshake_s(self) -> float:
        """Seconds the handshake may take: long for a local worker's first connection (its
        coordinator may still be loading the sweep; it closes the connection if it dies)."""
        if self.exit_on_disconnect and not self._connected_once:
            return LOCAL_HANDSHAKE_TIMEOUT_S
        return HANDSHAKE_TIMEOUT_S

    async def _handshake(self, reader, writer) -> BatchedWriter:
        """Prove the token and check the coordinator's proof (`auth`); return the sealed
        writer of the session, after queueing what this worker holds (``join``)."""
        challenge = await streams.read_message(reader, frames.PREAUTH_FRAME_BYTES)
        if challenge is None or challenge["t"] != "challenge":
            raise frames.ProtocolError("coordinator did not send a challenge")
        if challenge["version"] != frames.VERSION:
            raise Refused(f"the coordinator at {self._where()} speaks protocol version "
                          f"{challenge['version']}, this worker {frames.VERSION}: run the "
                          "same neunet version on both")
        cnonce = auth.new_nonce()
        session = auth.worker_session(self.token, challenge["nonce"], cnonce)
        out = BatchedWriter(writer, self._before_flush, session)
        out.write_now({"t": "hello", "worker": self.wid, "name": self.name,
                       "slots": self.n_slots, "cnonce": cnonce,
                       "spool": os.path.realpath(self.spool)[:MAX_SPOOL_CHARS]})
        await writer.drain()
        welcome = self._check_welcome(session, await streams.read_body(reader))
        self._configure(welcome)
        out.send({"t": "join", "running": self.runner.running(), "held": self.held()})
        return out

    def _where(self) -> str:
        return f"{self.host}:{self.port}"

    def _check_welcome(self, session, body) -> dict:
        """The welcome, once its tag proves the coordinator knows the token; `Refused` when
        the coordinator refused ours or could not prove its own."""
        if body is None:
            raise ConnectionError("the coordinator closed the connection during the handshake")
        try:
            welcome = frames.unpack(session.open(body))
        except frames.ProtocolError:
            welcome = None
        if welcome is not None and welcome["t"] == "welcome":
            return welcome
        try:
            refusal = frames.unpack(body)
        except frames.ProtocolError:
            refusal = {}
        if refusal.get("t") == "refused" and refusal.get("code") == "token":
            what = ("this worker has no token and the coordinator requires one" if not
                    self.token else "the coordinator refused this worker's token")
            raise Refused(f"{what}: pass the coordinator's token with --token-file FILE or "
                          f"${auth.TOKEN_ENV}")
        raise Refused(f"the coordinator at {self._where()} could not prove it knows the token "
                      "(another token, or not a neunet coordinator): check --token-file on "
                      "both sides")

    def _configure(self, welcome: dict) -> None:
        """Take the coordinator's settings from its welcome."""
        self.runner.filter_spec = welcome.get("filter")
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
            self.runner.add([t for t in msg["tasks"] if t["tid"] not in self.pending])
            self.short_work = all(short_task(t) for t in msg["tasks"])
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
        self.runner.wake.set()

    def _cancel(self, tid: str) -> None:
        self.runner.cancel(tid)
        if tid in self.pending:
            self._forget(tid)

    async def _heartbeats(self) -> None:
        while True:
            self.send({"t": "heartbeat", "slots": self.runner.heartbeat(time.monotonic())})
            self.send({"t": "request", "n": self.capacity()})
            try:
                if self.out is not None:
                    await self.out.drain()
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
        if reply is None or self.out is None:
            return
        async with self.deliver_lock:
            out = self.out
            try:
                if reply["t"] == "done" and not delivery.spool_file_ok(reply, self.spool):
                    reply = self.pending[tid] = _lost(reply)
                if reply["t"] == "failed":
                    self.send(reply)
                else:
                    await delivery.stream_result(out, reply, self.spool, self.chunk_bytes,
                                                 self.spooled)
                self.request()
                await out.drain()
            except (ConnectionError, OSError) as exc:
                log.warning("delivery of %s interrupted: %s", tid, exc)

    # ------------------------------------------------------------ stopping
    def stop(self) -> None:
        """First ctrl-c: stop pulling, hand back waiting tasks, finish the running ones."""
        self.stopping = self.runner.stopping = True
        waiting = self.runner.release_waiting()
        if waiting:
            self.send({"t": "released", "tids": waiting})
        self.send({"t": "request", "n": 0})
        log.info("stopping: finishing %d running tasks (ctrl-c again to abandon them)",
                 len(self.runner.running()))

    def abort(self) -> None:
        """Second ctrl-c: kill the slots, hand their tasks back, exit."""
        running = self.runner.abandon()
        if running:
            self.send({"t": "released", "tids": running})
        self._finish(kill=True)

    async def watch_stopping(self) -> None:
        """After a first ctrl-c, finish the worker once nothing runs and all is delivered."""
        while True:
            await asyncio.sleep(STOP_POLL_S)
            if self.stopping and not self.pending and self.runner.idle():
                self._finish()

    def fail(self, reason: str) -> None:
        """Stop this worker for good (exit status 1), with `reason` logged; the coordinator
        queues its tasks again when the connection closes."""
        log.error("%s; stopping this worker", reason)
        self.exit_status = 1
        self._finish(kill=True)

    def maybe_exit(self) -> None:
        """Finish once stopping and everything is delivered."""
        if self.stopping and not self.pending:
            self._finish()

    def _finish(self, kill: bool = False) -> None:
        if kill:
            self.runner.kill_all()
        self.finished.set()
        self.runner.wake.set()


def _lost(reply: dict) -> dict:
    """The failure report of a result whose spool file is gone (moved by a coordinator that
    stopped before recording it): the task runs again."""
    return failed_report(reply["tid"], "result file lost before delivery (coordinator "
                         "restarted)", "fault", reply["real_s"])
