"""The worker's side of one warm simulator process: Slot (start, kill, close) and short_task.

`Slot` starts the process and waits for its ``ready``, keeps the tail of its stderr for the
report of a crash, kills it (a cancelled, hung or abandoned task) or closes it. `short_task`
says whether a task is short enough to be queued in a busy slot's input behind another short
one (the slot then starts it without a round trip through the worker).
"""
from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import time

from neunet.runner.wire import frames, streams
from neunet.runner.worker.slot_process import SLOT_COMMAND

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
        """Start the slot process (or adopt `prestarted`, a `neunet.runner.worker.slot_process.spawn` process)
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
    """A `neunet.runner.worker.slot_process.spawn` process driven from asyncio as an `asyncio.subprocess.Process` is
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
