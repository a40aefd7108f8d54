"""The worker's slots: each runs backlog tasks in its warm simulator process, one at a time.

`SlotRunner` is the part of `neunet.runner.worker.worker.Worker` that drives its slots: it starts a
slot's process (adopting one spawned early; SLOT_START_ATTEMPTS tries, then the worker stops),
runs tasks from the backlog, queues short tasks in a slot's input in batches and the next task
behind one that is filtering, restarts a crashed process (its queued tasks go back first),
kills a timed-out one, and hands finished replies to the worker's delivery. It uses the
Worker's state (backlog, pending, skipped, cancelled, prestarted, spool, filter_spec, the
timeouts, wake, finished, stopping) and its send / request / _deliver / fail / _maybe_exit.
"""
from __future__ import annotations

import asyncio
import logging
import time

from neunet.runner.wire import frames, streams
from neunet.runner.worker import delivery
from neunet.runner.worker.slot_handle import PIPELINE_DEPTH, PIPELINE_QUEUE_S, Slot, short_task

log = logging.getLogger("neunet.worker")

# Times a slot process is started before the worker gives up on it.
SLOT_START_ATTEMPTS = 3
# First wait between two starts of a slot process; the n-th wait is n times longer (seconds).
SLOT_RETRY_S = 0.2


class SlotRunner:
    """Drives the worker's slots (a mixin of `neunet.runner.worker.worker.Worker`)."""

    async def slot_loop(self, slot: Slot) -> None:
        """Run tasks from the backlog in one slot, restarting its process after a crash."""
        while not self.finished.is_set():
            if slot.proc is None or slot.proc.returncode is not None:
                self._unqueue(slot)
                if not await self._start_slot(slot):
                    return
                if not slot.ready:
                    slot.ready = True
                    self.request()
            if not slot.queued and not self.backlog:
                if self.stopping and self._slots_idle():
                    self._maybe_exit()
                self.wake.clear()
                await self.wake.wait()
                continue
            queued = bool(slot.queued)
            slot.task = slot.queued.popleft() if queued else self.backlog.popleft()
            await self._run(slot, slot.task, written=queued)
            slot.task, slot.state = None, "idle"
            self.request()
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
                    self.fail(f"a simulator slot cannot start: {exc}")
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

    def _slots_idle(self) -> bool:
        return all(s.task is None and not s.queued for s in self.slots)

    async def _run(self, slot: Slot, task: dict, written: bool = False) -> None:
        tid = task["tid"]
        skipped = tid in self.skipped  # cancelled while queued: run (it is in the input) only
        slot.state, slot.started_s = "simulating", time.monotonic()
        if not skipped:
            self.send({"t": "state", "tid": tid, "state": "simulating"})
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
        self.pending[tid] = reply
        if reply["t"] == "done" and delivery.in_spool_file(reply):
            self.send({"t": "state", "tid": tid, "state": "pulling"})  # a file to stream
        job = asyncio.ensure_future(self._deliver(tid))  # the slot goes on meanwhile
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    async def _reply(self, slot: Slot, tid: str, report: bool = True) -> dict:
        await slot.proc.stdin.drain()
        while True:
            msg = await streams.read_message(slot.proc.stdout)
            if msg is None:
                raise ConnectionError("simulator process exited")
            if msg["t"] == "state":
                slot.state = msg["state"]
                if report:
                    self.send(msg)
                if msg["state"] == "filtering":
                    self._queue_next(slot)
            elif msg["t"] == "done":
                return msg
            elif msg["t"] == "error":
                return slot.failed(tid, msg["error"], "fault")
