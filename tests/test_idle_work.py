"""neunet.runner.coordinator.idle_work: work for idle slots at a cost independent of the sweep's
size (the heaps are scanned at most SCAN_LIMIT entries per request)."""
from types import SimpleNamespace

from neunet.runner.coordinator import idle_work
from neunet.runner.coordinator import scheduler as S


def test_a_request_looks_at_a_bounded_number_of_entries():
    work = idle_work.IdleWork()
    work.activate([])  # the queue is empty: entries are kept from now on
    for i in range(100_000):
        work.waiting(SimpleNamespace(tid=f"t{i}", est_cost=float(i)), "victim")
        work.started(SimpleNamespace(tid=f"t{i}", est_cost=float(i)), "victim", float(i))
    calls = []

    def valid(tid, wid):
        calls.append(tid)
        return True

    assert work.steal(4, valid, lambda tid, wid: False) == []  # none usable by this thief
    assert len(calls) == idle_work.SCAN_LIMIT
    assert work.steal(2, valid, lambda tid, wid: True) == [("t99999", "victim"),
                                                           ("t99998", "victim")]
    calls.clear()
    assert work.speculate(1, valid, lambda tid, wid: True, -1.0) == []  # none started early
    assert calls == []  # the earliest start is checked without popping anything
    assert work.speculate(2, valid, lambda tid, wid: True, 5.0) == [("t0", "victim"),
                                                                    ("t1", "victim")]


def test_the_heaps_are_built_only_once_the_queue_is_empty():
    s = S.Scheduler([(f"t{i}", {}, 1.0, 1.0) for i in range(10)])
    s.handle(S.Join("a", "a", 2, 0))
    s.handle(S.Request("a", 4, 0))
    assert not s.idle.active and s.idle.size() == 0  # 6 still queued: nothing to steal
    s.handle(S.Join("b", "b", 2, 0))
    s.handle(S.Request("b", 6, 0))  # takes the last 6: the queue is empty now
    assert s.idle.active


def test_stale_entries_are_pruned_once_they_outnumber_the_held_copies():
    tasks = [(f"t{i}", {}, 1.0, 0.001) for i in range(6000)]
    s = S.Scheduler(tasks)
    s.handle(S.Join("a", "a", 4, 0))
    for i in range(1500):  # each round: 4 tasks given, run and stored
        s.handle(S.Request("a", 4, i))
        for tid in list(s.workers["a"].tids):
            s.handle(S.TaskState("a", tid, "simulating", i))
            s.handle(S.ResultIn("a", tid, 0.001, i))
            s.handle(S.Stored("a", tid, i))
    s.handle(S.Tick(1500))
    assert s.n_finished == 6000
    assert s.idle.size() <= idle_work.PRUNE_SLACK + 8
