"""The worker's side of its slots: the slot processes and the backlog of tasks they run.

`Slot` is one warm simulator process (`slot_process`) seen from the worker: start it (or adopt
one spawned early) and wait for its ``ready``, keep the tail of its stderr for a crash report,
kill it (a cancelled, hung or abandoned task) or close it. `SlotRunner` drives the slots: it
runs backlog tasks in them (SLOT_START_ATTEMPTS tries to start a process, then the worker
stops), queues short tasks in a slot's input in batches and the next task behind one that is
filtering (`short_task` decides which may wait there), restarts a crashed process (its queued
tasks go back first), kills a timed-out one, and hands each finished reply to the worker (its
``link``) for delivery. The worker (`neunet.runner.worker.worker.Worker`) owns the connection;
this module owns everything between it and the slot processes.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import os
import signal
import subprocess
import time

from neunet.runner.wire import frames, streams
from neunet.runner.worker.slot_process import SLOT_COMMAND
from neunet.store.schema import FILTERING, SIMULATING

log = logging.getLogger("neunet.worker")

# Seconds between exit checks while waiting for an adopted (`slot.spawn`) process.
ADOPTED_WAIT_POLL_S = 0.01
# Bytes of a slot's stderr kept for the error report of a crash.
STDERR_TAIL_BYTES = 4000
# A task estimated to take at most this long is queued in a busy slot's input behind another
# such task, so the slot starts it the moment the first ends (no round trip through the
# worker); longer tasks wait in the worker's backlog, where any free slot takes them (seconds).
PIPELINE_MAX_S = 0.02
# Most short tasks queued in a slot's input at once (written together, in one write, when the
# last queued one starts), and most estimated work queued there (seconds).
PIPELINE_DEPTH = 4
PIPELINE_QUEUE_S = 0.01


class Slot:
    """One warm simulator process and the task it runs."""

    def __init__(self, index: int):
        self.index = index
        self.proc = None
        self.task = None          # task dict being run
        self.queued = collections.deque()  # task dicts written to its input behind `task`
        self.state = "idle"
        self.ready = False        # has loaded the simulator once
        self.started_s = 0.0
        self.stderr_tail = collections.deque(maxlen=64)
        self._drain = None

    async def start(self, prestarted=None) -> None:
        """Start the slot process (or adopt `prestarted`, a `slot_process.spawn` process)
        and wait until it has loaded the simulator."""
        if prestarted is not None:
            self.proc = await _Adopted(prestarted).connect(frames.CHUNK_BYTES)
        else:
            self.proc = await asyncio.create_subprocess_exec(
                *SLOT_COMMAND, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, limit=frames.CHUNK_BYTES,
                start_new_session=True)
        self._drain = asyncio.ensure_future(self._read_stderr(self.proc))
        msg = await streams.read_message(self.proc.stdout)
        if msg is None or msg["t"] != "ready":
            raise RuntimeError(f"simulator slot did not start: {self.stderr_text()}")

    async def _read_stderr(self, proc) -> None:
        while True:
            line = await proc.stderr.readline()
            if not line:
                return
            self.stderr_tail.append(line.decode(errors="replace"))

    def stderr_text(self) -> str:
        return "".join(self.stderr_tail)[-STDERR_TAIL_BYTES:].strip()

    def write_runs(self, tasks: list, out_dir: str, filter_spec) -> None:
        """Write run requests for `tasks` to the process's input, in one write."""
        self.proc.stdin.write(b"".join(frames.pack({
            "t": "run", "tid": t["tid"], "pm": t["pm"], "out": out_dir,
            "filter": filter_spec}) for t in tasks))

    def failed(self, tid: str, error: str, kind: str) -> dict:
        """The worker's ``failed`` report of task `tid`, run here since `started_s`."""
        return failed_report(tid, error, kind, time.monotonic() - self.started_s)

    def crash_reason(self) -> str:
        """Why the process ended (signal or exit status) and the tail of its stderr."""
        code = self.proc.returncode
        what = (f"killed by signal {-code}" if code is not None and code < 0
                else f"exited with status {code}")
        tail = self.stderr_text()
        return f"simulator process {what}" + (f": {tail}" if tail else "")

    def kill(self) -> None:
        """Kill the process (a cancelled, hung or abandoned task). A plain SIGKILL: asyncio's
        `Process.kill` polls first, and a poll that reaps an already dead process leaves
        asyncio's child watcher nothing to wait for (its status then reads 255, not the
        signal that killed it)."""
        if self.proc is not None and self.proc.returncode is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:  # already gone
                pass

    async def close(self) -> None:
        """Stop the process: close stdin (it exits), kill it if it does not."""
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()
            await asyncio.wait_for(self.proc.wait(), 2.0)
        except (asyncio.TimeoutError, ConnectionError, ProcessLookupError):
            self.kill()
            await self.proc.wait()
        if self._drain is not None:
            self._drain.cancel()


class _Adopted:
    """A `slot_process.spawn` process driven from asyncio as an `asyncio.subprocess.Process` is
    (stdin, stdout, stderr streams, returncode, kill, wait); its pipes belong to the
    transports from now on."""

    def __init__(self, popen: subprocess.Popen):
        self.popen, self.pid = popen, popen.pid
        self.stdin = self.stdout = self.stderr = None

    async def connect(self, limit: int) -> _Adopted:
        loop = asyncio.get_running_loop()
        self.stdout, self.stderr = asyncio.StreamReader(limit=limit), asyncio.StreamReader()
        for reader, pipe in ((self.stdout, self.popen.stdout), (self.stderr, self.popen.stderr)):
            await loop.connect_read_pipe(lambda r=reader: asyncio.StreamReaderProtocol(r), pipe)
        transport, proto = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin,
                                                         self.popen.stdin)
        self.stdin = asyncio.StreamWriter(transport, proto, None, loop)
        return self

    @property
    def returncode(self):
        return self.popen.poll()

    def kill(self) -> None:
        self.popen.kill()

    async def wait(self) -> int:
        while self.popen.poll() is None:
            await asyncio.sleep(ADOPTED_WAIT_POLL_S)
        return self.popen.returncode


def failed_report(tid: str, error: str, kind: str, real_s: float) -> dict:
    """A worker's ``failed`` message: task `tid` failed (`kind`: fault or timeout) after
    `real_s` seconds, with the reason `error`."""
    return {"t": "failed", "tid": tid, "error": error, "kind": kind, "real_s": real_s}


def short_task(task: dict) -> bool:
    """Whether a task is estimated short enough to queue in a slot (see PIPELINE_MAX_S)."""
    try:
        return 0 < float(task.get("est_s") or 0) <= PIPELINE_MAX_S
    except (TypeError, ValueError):
        return False


# Times a slot process is started before the worker gives up on it.
SLOT_START_ATTEMPTS = 3
# First wait between two starts of a slot process; the n-th wait is n times longer (seconds).
SLOT_RETRY_S = 0.2


class SlotRunner:
    """The worker's slots and its backlog of tasks (see the module docstring).

    Parameters
    ----------
    n_slots : int
        Simulator processes run at once.
    spool : str
        Where slots write results too large for their reply.
    link : object
        The worker, as seen from here: ``send(msg)``, ``request()``, ``take_reply(tid,
        reply)`` (a finished task's reply, to deliver), ``fail(reason)`` (stop the worker),
        ``maybe_exit()`` and the Event ``finished``.
    timeout_min_s, timeout_factor : float
        A task is killed after max(timeout_min_s, timeout_factor x its estimate) seconds.
    prestarted : list of subprocess.Popen
        `slot_process.spawn` processes the slots adopt first.
    """

    def __init__(self, n_slots: int, spool: str, link, timeout_min_s: float = 300.0,
                 timeout_factor: float = 20.0, prestarted=()):
        self.slots = [Slot(i) for i in range(n_slots)]
        self.spool, self.link = spool, link
        self.timeout_min_s, self.timeout_factor = timeout_min_s, timeout_factor
        self.prestarted = list(prestarted)
        self.backlog: collections.deque = collections.deque()
        self.filter_spec = None   # the sweep's smart filter (from the coordinator's welcome)
        self.stopping = False     # no task starts any more from the backlog's queues
        self.wake = asyncio.Event()
        self.cancelled: set = set()
        self.skipped: set = set()  # cancelled while queued in a slot: its result is dropped

    # ------------------------------------------------------------ what the worker asks
    def ready(self) -> bool:
        """Whether every slot has loaded the simulator once."""
        return all(s.ready for s in self.slots)

    def running(self) -> list:
        """Tids of the tasks running in a slot."""
        return [s.task["tid"] for s in self.slots if s.task is not None]

    def held(self) -> list:
        """Tids of every task here: running, queued in a slot's input, in the backlog."""
        queued = [t["tid"] for s in self.slots for t in s.queued]
        return self.running() + queued + [t["tid"] for t in self.backlog]

    def add(self, tasks: list) -> None:
        """Take tasks the coordinator gave (those already held are ignored)."""
        known = set(self.held())
        self.backlog.extend(t for t in tasks if t["tid"] not in known)
        self.wake.set()

    def release_waiting(self) -> list:
        """Empty the backlog (first ctrl-c); return its tids, to hand back."""
        waiting = [t["tid"] for t in self.backlog]
        self.backlog.clear()
        self.wake.set()
        return waiting

    def cancel(self, tid: str) -> None:
        """Drop `tid` from the backlog, kill its slot if it runs, or drop its result if it
        is queued in a slot's input (it runs: it is in the input already)."""
        self.backlog = collections.deque(t for t in self.backlog if t["tid"] != tid)
        for slot in self.slots:
            if slot.task is not None and slot.task["tid"] == tid:
                self.cancelled.add(tid)
                slot.kill()
            elif any(t["tid"] == tid for t in slot.queued):
                self.skipped.add(tid)

    def abandon(self) -> list:
        """Second ctrl-c: the tids of everything started or queued in a slot (their results
        will be dropped), to hand back."""
        tids = self.running() + [t["tid"] for s in self.slots for t in s.queued]
        self.cancelled.update(tids)
        return tids

    def heartbeat(self, now_s: float) -> list:
        """The running tasks' states, for a heartbeat."""
        return [{"tid": s.task["tid"], "state": s.state,
                 "elapsed_s": round(now_s - s.started_s, 3)}
                for s in self.slots if s.task is not None]

    def kill_all(self) -> None:
        for slot in self.slots:
            slot.kill()

    def idle(self) -> bool:
        """Whether no slot runs or has queued anything."""
        return all(s.task is None and not s.queued for s in self.slots)

    # ------------------------------------------------------------ running tasks

    async def slot_loop(self, slot: Slot) -> None:
        """Run tasks from the backlog in one slot, restarting its process after a crash."""
        while not self.link.finished.is_set():
            if slot.proc is None or slot.proc.returncode is not None:
                self._unqueue(slot)
                if not await self._start_slot(slot):
                    return
                if not slot.ready:
                    slot.ready = True
                    self.link.request()
            if not slot.queued and not self.backlog:
                if self.stopping and self.idle():
                    self.link.maybe_exit()
                self.wake.clear()
                await self.wake.wait()
                continue
            queued = bool(slot.queued)
            slot.task = slot.queued.popleft() if queued else self.backlog.popleft()
            await self._run(slot, slot.task, written=queued)
            slot.task, slot.state = None, "idle"
            self.link.request()
            self.wake.set()

    async def _start_slot(self, slot: Slot) -> bool:
        """(Re)start a slot's process, trying SLOT_START_ATTEMPTS times; False (the worker then
        stops, exit status 1) when it never gets ready."""
        for attempt in range(1, SLOT_START_ATTEMPTS + 1):
            try:
                await slot.start(self.prestarted.pop() if self.prestarted else None)
                return True
            except (RuntimeError, OSError, frames.ProtocolError) as exc:
                if attempt == SLOT_START_ATTEMPTS:
                    self.link.fail(f"a simulator slot cannot start: {exc}")
                    return False
                log.warning("a simulator slot did not start (%s); trying again", exc)
                await asyncio.sleep(SLOT_RETRY_S * attempt)
        return False

    def _pipeline(self, slot: Slot, task: dict) -> list:
        """Queue short backlog tasks in the slot's input behind a short `task` once its queue
        has emptied (up to PIPELINE_DEPTH of them, PIPELINE_QUEUE_S of estimated work);
        return them, to be written."""
        if slot.queued or self.stopping or not short_task(task):
            return []
        work_s = 0.0
        while (self.backlog and len(slot.queued) < PIPELINE_DEPTH
               and short_task(self.backlog[0]) and work_s < PIPELINE_QUEUE_S):
            slot.queued.append(self.backlog.popleft())
            work_s += float(slot.queued[-1]["est_s"])
        return list(slot.queued)

    def _queue_next(self, slot: Slot) -> None:
        """The slot's simulation is over (it is filtering): queue the next backlog task in its
        input now, so it starts the moment the reply is written (no idle round trip while a
        large reply travels)."""
        if not slot.queued and self.backlog and not self.stopping:
            slot.queued.append(self.backlog.popleft())
            slot.write_runs(list(slot.queued), self.spool, self.filter_spec)

    def _unqueue(self, slot: Slot) -> None:
        """The slot's process is gone: its queued tasks never started, they go back first."""
        for task in reversed(slot.queued):
            if task["tid"] not in self.skipped:
                self.backlog.appendleft(task)
            self.skipped.discard(task["tid"])
        slot.queued.clear()

    async def _run(self, slot: Slot, task: dict, written: bool = False) -> None:
        tid = task["tid"]
        skipped = tid in self.skipped  # cancelled while queued: run (it is in the input) only
        slot.state, slot.started_s = SIMULATING, time.monotonic()
        if not skipped:
            self.link.send({"t": "state", "tid": tid, "state": SIMULATING})
        timeout_s = max(self.timeout_min_s, self.timeout_factor * float(task.get("est_s") or 0))
        try:
            batch = ([] if written else [task]) + self._pipeline(slot, task)
            if batch:
                slot.write_runs(batch, self.spool, self.filter_spec)
            reply = await asyncio.wait_for(self._reply(slot, tid, not skipped), timeout_s)
        except asyncio.TimeoutError:
            slot.kill()
            await slot.proc.wait()
            reply = slot.failed(tid, f"timed out after {timeout_s:.0f} s (killed)", "timeout")
        except (frames.ProtocolError, ConnectionError, OSError):
            slot.kill()
            await slot.proc.wait()
            if tid in self.cancelled or skipped:
                self.cancelled.discard(tid)
                self.skipped.discard(tid)
                return
            reply = slot.failed(tid, slot.crash_reason(), "fault")
        if skipped:
            self.skipped.discard(tid)
            return
        self.link.take_reply(tid, reply)

    async def _reply(self, slot: Slot, tid: str, report: bool = True) -> dict:
        await slot.proc.stdin.drain()
        while True:
            msg = await streams.read_message(slot.proc.stdout)
            if msg is None:
                raise ConnectionError("simulator process exited")
            if msg["t"] == "state":
                slot.state = msg["state"]
                if report:
                    self.link.send(msg)
                if msg["state"] == FILTERING:
                    self._queue_next(slot)
            elif msg["t"] == "done":
                return msg
            elif msg["t"] == "error":
                kind = "input" if msg.get("kind") == "input" else "fault"
                return slot.failed(tid, msg["error"], kind)
