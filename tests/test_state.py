"""The coordinator's scheduling state machine (neunet.runner.coordinator.scheduler), driven by
lists of events."""
from neunet.runner.coordinator import scheduler as S


def _sched(costs, **cfg):
    tasks = [(f"t{i}", {"i": i}, c, c / 10) for i, c in enumerate(costs)]
    return S.Scheduler(tasks, config=S.Config(**cfg))


def _of(instrs, kind):
    return [i for i in instrs if isinstance(i, kind)]


def _assigned(instrs):
    return [t["tid"] for a in _of(instrs, S.Assign) for t in a.tasks]


def _join(s, wid, slots=2, now=0.0, **kw):
    return s.handle(S.Join(wid, wid, slots, now, **kw))


def test_queue_gives_most_expensive_first_and_journals_assignment():
    s = _sched([1, 50, 7, 20])
    _join(s, "a")
    out = s.handle(S.Request("a", 3, 0.1))
    assert _assigned(out) == ["t1", "t3", "t2"]
    assert [(j.tid, j.status) for j in _of(out, S.Journal)] == [
        ("t1", "assigned"), ("t3", "assigned"), ("t2", "assigned")]
    assert s.counts()["queued"] == 1


def test_result_is_recorded_once_and_a_duplicate_is_acked_and_dropped():
    s = _sched([1])
    _join(s, "a")
    s.handle(S.Request("a", 1, 0))
    out = s.handle(S.ResultIn("a", "t0", 0.5, 1.0))
    assert _of(out, S.Record) == [S.Record("t0", "a", 0.5)] and _of(out, S.Ack)
    assert _of(out, S.AllDone) == [S.AllDone(1, 0)]
    again = s.handle(S.ResultIn("a", "t0", 0.5, 1.1))
    assert _of(again, S.Discard) and _of(again, S.Ack) and not _of(again, S.Record)
    unknown = s.handle(S.ResultIn("a", "zzz", 0.5, 1.1))
    assert _of(unknown, S.Discard) and _of(unknown, S.Ack)


def test_silent_worker_is_declared_dead_and_its_tasks_requeued_without_an_attempt():
    s = _sched([5, 3], heartbeat_timeout_s=5.0)
    _join(s, "a")
    _join(s, "b")
    s.handle(S.Request("a", 2, 0))
    assert s.handle(S.Heartbeat("a", 3.0, {"t0": "simulating"}))
    assert not _of(s.handle(S.Tick(4.9)), S.DropWorker)
    assert [d.wid for d in _of(s.handle(S.Tick(5.5)), S.DropWorker)] == ["b"]  # b held nothing
    out = s.handle(S.Tick(8.1))  # 'a' last heard of at 3.0
    assert [d.wid for d in _of(out, S.DropWorker)] == ["a"]
    assert {j.tid for j in _of(out, S.Journal) if j.status == "not-assigned"} == {"t0", "t1"}
    assert all(j.fields["attempts"] == 0 for j in _of(out, S.Journal))
    _join(s, "c", now=9)
    assert _assigned(s.handle(S.Request("c", 2, 9))) == ["t0", "t1"]


def test_reconnect_within_timeout_keeps_leases_and_results_after_death_are_accepted():
    s = _sched([5, 3])
    _join(s, "a")
    s.handle(S.Request("a", 2, 0))
    s.handle(S.Disconnect("a", 1))
    out = _join(s, "a", now=2, running=["t0"], held=["t0"])  # forgot t1: requeued
    assert [j.tid for j in _of(out, S.Journal) if j.status == "not-assigned"] == ["t1"]
    s.handle(S.Tick(100))  # dies
    out = s.handle(S.ResultIn("a", "t0", 1.0, 101))
    assert _of(out, S.Record)


def test_coordinator_restart_replay_accepts_held_results_and_cancels_finished_runs():
    # a restarted coordinator knows only the unfinished tasks
    s = S.Scheduler([("t1", {}, 1, 1)], n_finished=1)
    out = _join(s, "w", running=["t0", "t1"], held=["t0", "t1"])
    assert _of(out, S.Cancel) == [S.Cancel("w", "t0")]
    assert s.counts()["queued"] == 0
    assert not _assigned(s.handle(S.Request("w", 2, 1)))
    out = s.handle(S.ResultIn("w", "t1", 1.0, 2))
    assert _of(out, S.Record) and _of(out, S.AllDone) == [S.AllDone(2, 0)]


def test_faults_are_retried_on_another_worker_then_marked_failed():
    s = _sched([1], retries=1)
    _join(s, "a")
    _join(s, "b")
    assert _assigned(s.handle(S.Request("a", 1, 0))) == ["t0"]
    out = s.handle(S.Failure("a", "t0", "boom", "fault", 1))
    assert [j.status for j in _of(out, S.Journal)] == ["not-assigned"]
    assert not _assigned(s.handle(S.Request("a", 1, 1)))  # not back to the worker it failed on
    assert _assigned(s.handle(S.Request("b", 1, 1))) == ["t0"]
    out = s.handle(S.Failure("b", "t0", "boom again", "timeout", 2))
    [j] = _of(out, S.Journal)
    assert (j.status, j.fields["reason"], j.fields["failure_class"], j.fields["attempts"]) == (
        "failed", "boom again", "timeout", 2)
    assert _of(out, S.AllDone) == [S.AllDone(0, 1)]


def test_retry_goes_back_to_the_same_worker_when_it_is_the_only_one():
    s = _sched([1], retries=2)
    _join(s, "a")
    s.handle(S.Request("a", 1, 0))
    s.handle(S.Failure("a", "t0", "x", "fault", 1))
    assert _assigned(s.handle(S.Request("a", 1, 1))) == ["t0"]


def test_idle_worker_steals_unstarted_tasks_from_the_busiest():
    s = _sched([9, 8, 7, 6])
    _join(s, "a", slots=2)
    s.handle(S.Request("a", 4, 0))  # a holds all four (2 running, 2 prefetched)
    s.handle(S.TaskState("a", "t0", "simulating", 0.1))
    s.handle(S.TaskState("a", "t1", "simulating", 0.1))
    _join(s, "b", slots=2, now=0.2)
    out = s.handle(S.Request("b", 4, 0.2))
    assert _assigned(out) == ["t2", "t3"]
    assert _of(out, S.Cancel) == [S.Cancel("a", "t2"), S.Cancel("a", "t3")]
    # a late result of a stolen task from the victim still counts (first result wins)
    out = s.handle(S.ResultIn("a", "t2", 1, 1))
    assert _of(out, S.Record) and _of(out, S.Cancel) == [S.Cancel("b", "t2")]


def test_speculative_copy_of_the_longest_running_task_first_result_wins():
    s = _sched([9, 8], speculate_after_s=1.0)
    _join(s, "a", slots=2)
    s.handle(S.Request("a", 2, 0))
    s.handle(S.TaskState("a", "t0", "simulating", 0.5))
    s.handle(S.TaskState("a", "t1", "simulating", 0.0))
    _join(s, "b", slots=1, now=0.6)
    assert not _assigned(s.handle(S.Request("b", 1, 0.6)))  # nothing has run long enough
    out = s.handle(S.Request("b", 1, 2.0))
    assert _assigned(out) == ["t1"]  # the one started earliest
    assert not _assigned(s.handle(S.Request("b", 1, 2.1)))  # its only slot is busy
    out = s.handle(S.ResultIn("b", "t1", 1, 3))
    assert _of(out, S.Record) and _of(out, S.Cancel) == [S.Cancel("a", "t1")]
    # the cancelled copy's late result is dropped
    assert _of(s.handle(S.ResultIn("a", "t1", 1, 4)), S.Discard)


def test_failure_of_one_speculative_copy_leaves_the_other_running():
    s = _sched([9], speculate_after_s=0.0)
    _join(s, "a", slots=1)
    s.handle(S.Request("a", 1, 0))
    s.handle(S.TaskState("a", "t0", "simulating", 0))
    _join(s, "b", slots=1)
    assert _assigned(s.handle(S.Request("b", 1, 1))) == ["t0"]
    assert s.handle(S.Failure("b", "t0", "x", "fault", 2)) == [S.Ack("b", "t0")]
    assert _of(s.handle(S.ResultIn("a", "t0", 1, 3)), S.Record)


def test_stop_ends_dispatch_and_released_tasks_go_back():
    s = _sched([3, 2, 1])
    _join(s, "a")
    s.handle(S.Request("a", 1, 0))
    s.handle(S.Stop(1))
    assert not s.handle(S.Request("a", 2, 1))
    out = s.handle(S.Released("a", ["t0"], 2))
    assert [(j.tid, j.status) for j in _of(out, S.Journal)] == [("t0", "not-assigned")]
    assert s.counts()["queued"] == 3


def test_states_are_journaled_once_each_with_start_time():
    s = _sched([1])
    _join(s, "a")
    s.handle(S.Request("a", 1, 0))
    out = s.handle(S.TaskState("a", "t0", "simulating", 2.5))
    assert [(j.status, j.fields.get("started")) for j in out] == [("simulating", 2.5)]
    assert not s.handle(S.Heartbeat("a", 3, {"t0": "simulating"}))
    assert [j.status for j in s.handle(S.TaskState("a", "t0", "filtering", 3))] == ["filtering"]
    view = s.worker_view()
    assert view == [("a", 2, {"filtering": 1})]
    assert s.counts()["running"] == 1


def test_empty_sweep_is_done_at_once_and_duplicate_tids_collapse():
    s = S.Scheduler([("x", {}, 1, 1), ("x", {}, 1, 1)])
    assert len(s.tasks) == 1
    assert _of(S.Scheduler([]).handle(S.Tick(0)), S.AllDone)


def test_request_is_idempotent_it_names_the_total_a_worker_wants_to_hold():
    s = _sched([5, 4, 3, 2, 1])
    _join(s, "a")
    assert len(_assigned(s.handle(S.Request("a", 2, 0)))) == 2
    assert not _assigned(s.handle(S.Request("a", 2, 0.1)))  # a repeated request gets nothing
    s.handle(S.ResultIn("a", "t0", 1, 1))
    assert _assigned(s.handle(S.Request("a", 2, 1))) == ["t2"]
