"""The worker's slots (neunet.runner.worker.slots) driving real slot processes, no coordinator."""
import time

import pytest
from dist_helpers import PY, short_tasks, warm_numba_cache

from neunet.runner.worker import slot_process as slot


@pytest.fixture(autouse=True, scope="module")
def _warm_cache():
    warm_numba_cache()


def _slot_run(tasks, action=None, timeout_s=60, prestarted=False):
    """Run `tasks` (dicts) through one real slot process of a Worker with no coordinator
    (`prestarted`: a `slot.spawn` process it adopts); `action(worker, slot)` is called once a
    task is queued in the slot behind another. Returns the worker's pending replies (tid ->
    reply) once the slot is idle."""
    import asyncio

    from neunet.runner.worker.slot_process import spawn
    from neunet.runner.worker.worker import Worker

    async def go():
        w = Worker("127.0.0.1", 1, 1, b"", exit_on_disconnect=True,
                   prestarted=[spawn()] if prestarted else ())
        slot = w.runner.slots[0]
        w.runner.backlog.extend(tasks)
        loop = asyncio.ensure_future(w.runner.slot_loop(slot))
        acted = action is None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not acted and slot.queued:
                acted = True
                action(w, slot)
            if acted and not w.runner.backlog and not slot.queued and slot.task is None:
                break
            await asyncio.sleep(0.002)
        w._finish(kill=True)
        loop.cancel()
        await slot.close()
        return w.pending, acted

    return asyncio.run(go())


def test_short_tasks_are_queued_in_the_slot_in_batches_and_all_delivered():
    from neunet.runner.worker.slots import PIPELINE_DEPTH
    tasks = short_tasks(12)
    seen = []
    pending, acted = _slot_run(tasks, lambda w, slot: seen.append((
        slot.task["tid"], [t["tid"] for t in slot.queued])))
    running, queued = seen[0]
    assert acted and running not in queued  # they wait in its input while one runs
    assert len(queued) == PIPELINE_DEPTH     # written together, one refill of the queue
    assert sorted(pending) == sorted(t["tid"] for t in tasks)
    assert all(r["t"] == "done" for r in pending.values())


def test_the_next_long_task_is_queued_while_the_slot_filters_the_last_one():
    tasks = [dict(t, est_s=1.0) for t in short_tasks(3, t_ms=8000)]  # long: not pipelined
    seen = []
    pending, acted = _slot_run(tasks, lambda w, slot: seen.append(
        (slot.task["tid"], slot.state, [t["tid"] for t in slot.queued])), timeout_s=120)
    running, state, queued = seen[0]
    assert acted and state == "filtering" and queued == [tasks[1]["tid"]]
    assert sorted(pending) == sorted(t["tid"] for t in tasks)
    assert all(r["t"] == "done" for r in pending.values())


def test_a_task_cancelled_while_queued_in_the_slot_is_not_delivered():
    tasks = short_tasks(4)
    cancelled = []

    def cancel(w, slot):
        cancelled.append(slot.queued[-1]["tid"])
        w._cancel(slot.queued[-1]["tid"])

    pending, _ = _slot_run(tasks, cancel)
    assert cancelled and cancelled[0] not in pending
    assert set(pending) == {t["tid"] for t in tasks} - set(cancelled)


@pytest.mark.parametrize("prestarted", [False, True])
def test_a_queued_task_survives_a_crash_of_the_slot_and_runs_on_its_restart(prestarted):
    tasks = short_tasks(3, t_ms=300)
    crashed = []

    def crash(w, slot):
        crashed.append((slot.task["tid"], [t["tid"] for t in slot.queued],
                        type(slot.proc).__name__))
        slot.kill()  # as a segfault would: the running task fails, the queued one waits

    pending, _ = _slot_run(tasks, crash, timeout_s=90, prestarted=prestarted)
    assert (crashed[0][2] == "_Adopted") == prestarted  # the spawned process was adopted
    running, queued, _ = crashed[0]
    assert pending[running]["t"] == "failed" and pending[running]["kind"] == "fault"
    assert "killed by signal 9" in pending[running]["error"]
    assert queued and all(pending[tid]["t"] == "done" for tid in queued)
    assert set(pending) == {t["tid"] for t in tasks}


def _run_slot_loop(w, timeout_s=60):
    """Run a Worker's single slot loop until the worker finishes or its backlog is done."""
    import asyncio

    async def go():
        loop = asyncio.ensure_future(w.runner.slot_loop(w.runner.slots[0]))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not w.finished.is_set():
            if not w.runner.backlog and w.runner.slots[0].task is None and w.pending:
                break
            await asyncio.sleep(0.01)
        w._finish(kill=True)
        loop.cancel()
        await w.runner.slots[0].close()
    asyncio.run(go())


def test_a_slot_killed_while_warming_up_is_started_again(caplog):
    from neunet.runner.worker.worker import Worker
    spawned = slot.spawn()
    spawned.kill()  # dies before it is ready (as an OOM kill would)
    spawned.wait()
    w = Worker("127.0.0.1", 1, 1, b"", exit_on_disconnect=True, prestarted=[spawned])
    w.runner.backlog.extend(short_tasks(2))
    _run_slot_loop(w)
    assert w.exit_status == 0 and sorted(w.pending) == ["s0", "s1"]
    assert all(r["t"] == "done" for r in w.pending.values())
    assert "a simulator slot did not start" in caplog.text  # the killed one, then a new one


def test_a_slot_that_never_starts_stops_the_worker_with_status_1(monkeypatch, caplog):
    from neunet.runner.worker import slots
    from neunet.runner.worker.worker import Worker
    monkeypatch.setattr(slots, "SLOT_COMMAND",  # a real program that exits at once
                        (PY, "-c", "import sys; print('no simulator here', file=sys.stderr); "
                                   "sys.exit(3)"))
    w = Worker("127.0.0.1", 1, 1, b"", exit_on_disconnect=True)
    w.runner.backlog.extend(short_tasks(1))
    _run_slot_loop(w)
    assert w.finished.is_set() and w.exit_status == 1 and not w.pending
    assert "a simulator slot cannot start: simulator slot did not start: no simulator here" \
        in caplog.text
