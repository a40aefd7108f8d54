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


def _result(s, wid, tid, real_s=1.0, now=1.0):
    """A result arrives and, once recorded, is durable: the instructions of both events."""
    out = s.handle(S.ResultIn(wid, tid, real_s, now))
    if _of(out, S.Record):
        out += s.handle(S.Stored(wid, tid, now))
    return out


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
    assert _of(out, S.Record) == [S.Record("t0", "a", 0.5)]
    assert not _of(out, S.Ack) and not _of(out, S.AllDone)  # not yet durable
    out = s.handle(S.Stored("a", "t0", 1.0))
    assert _of(out, S.Ack) == [S.Ack("a", "t0")] and _of(out, S.AllDone) == [S.AllDone(1, 0)]
    again = _result(s, "a", "t0", 0.5, 1.1)
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
    # no attempt counted against the retries; the run that had started is in t0's history
    assert s.tasks["t0"].attempts == s.tasks["t1"].attempts == 0
    journaled = {j.tid: j.fields for j in _of(out, S.Journal)}
    assert journaled["t0"]["attempts"] == 1 and journaled["t1"]["attempts"] == 0
    assert journaled["t0"]["history"] == [{"worker": "a", "class": "lost",
                                          "reason": "worker silent for 5.1 s"}]
    assert "history" not in journaled["t1"]  # never started: nothing was lost
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
    assert _of(out, S.Record)  # it was leased to a: its result counts


def test_coordinator_restart_replay_accepts_held_results_and_cancels_finished_runs():
    # a restarted coordinator knows only the unfinished tasks
    s = S.Scheduler([("t1", {}, 1, 1)], n_finished=1)
    out = _join(s, "w", running=["t0", "t1"], held=["t0", "t1"])
    assert _of(out, S.Cancel) == [S.Cancel("w", "t0")]
    assert s.counts()["queued"] == 0
    assert not _assigned(s.handle(S.Request("w", 2, 1)))
    out = _result(s, "w", "t1", 1.0, 2)
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
    out = _result(s, "a", "t2", 1, 1)
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
    out = _result(s, "b", "t1", 1, 3)
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
    _result(s, "a", "t0", 1, 1)
    assert _assigned(s.handle(S.Request("a", 2, 1))) == ["t2"]


def test_a_result_is_taken_only_from_a_worker_the_task_was_leased_to():
    s = _sched([1])
    _join(s, "a")
    _join(s, "intruder")
    s.handle(S.Request("a", 1, 0))
    assert not s.leased("intruder", "t0") and s.leased("a", "t0")
    out = s.handle(S.ResultIn("intruder", "t0", 1.0, 1))
    assert _of(out, S.Discard) and _of(out, S.Ack) and not _of(out, S.Record)
    assert _of(_result(s, "a", "t0", 1.0, 2), S.Record)


def test_finished_only_once_stored_a_duplicate_meanwhile_is_dropped():
    s = _sched([9], speculate_after_s=0.0)
    _join(s, "a", slots=1)
    _join(s, "b", slots=1)
    s.handle(S.Request("a", 1, 0))
    s.handle(S.TaskState("a", "t0", "simulating", 0))
    assert _assigned(s.handle(S.Request("b", 1, 1))) == ["t0"]  # a speculative copy
    assert _of(s.handle(S.ResultIn("a", "t0", 1, 2)), S.Record)
    assert s.n_open() == 1 and s.counts()["finished"] == 0  # not durable yet
    dup = s.handle(S.ResultIn("b", "t0", 1, 2.5))
    assert _of(dup, S.Discard) and not _of(dup, S.Record)
    out = s.handle(S.Stored("a", "t0", 3))
    assert _of(out, S.Ack) == [S.Ack("a", "t0")] and _of(out, S.AllDone)


def test_a_result_that_cannot_be_stored_runs_the_task_again():
    s = _sched([1], retries=1)
    _join(s, "a")
    s.handle(S.Request("a", 1, 0))
    s.handle(S.ResultIn("a", "t0", 1, 1))
    out = s.handle(S.StoreFailed("a", "t0", "disk error", False, 2))  # not the result's fault
    assert [j.status for j in _of(out, S.Journal)] == ["not-assigned"]
    assert s.tasks["t0"].attempts == 0 and s.tasks["t0"].history[-1]["class"] == "store"
    s.handle(S.Request("a", 1, 3))
    s.handle(S.ResultIn("a", "t0", 1, 4))
    out = s.handle(S.StoreFailed("a", "t0", "summary value 'x' is text", True, 5))
    assert s.tasks["t0"].attempts == 1 and _of(out, S.Journal)[-1].status == "not-assigned"
    s.handle(S.Request("a", 1, 6))
    s.handle(S.ResultIn("a", "t0", 1, 7))
    out = s.handle(S.StoreFailed("a", "t0", "summary value 'x' is text", True, 8))
    [j] = [j for j in _of(out, S.Journal) if j.status == "failed"]
    assert j.fields["failure_class"] == "invalid" and j.fields["attempts"] == 3
    assert [h["class"] for h in j.fields["history"]] == ["store", "invalid", "invalid"]


def test_an_input_error_fails_the_task_at_once_and_its_other_copy_is_cancelled():
    s = _sched([1], retries=5, speculate_after_s=0.0)
    _join(s, "a", slots=1)
    _join(s, "b", slots=1)
    s.handle(S.Request("a", 1, 0))
    s.handle(S.TaskState("a", "t0", "simulating", 0))
    s.handle(S.Request("b", 1, 1))
    out = s.handle(S.Failure("a", "t0", "SimInputError: bad number 'x'", "input", 2))
    assert _of(out, S.Cancel) == [S.Cancel("b", "t0")]
    [j] = _of(out, S.Journal)
    assert (j.status, j.fields["failure_class"], j.fields["attempts"]) == ("failed", "input", 1)
    assert _of(out, S.AllDone) == [S.AllDone(0, 1)]


def test_attempts_count_the_runs_that_started_and_history_keeps_each_failure():
    s = _sched([1], retries=3)
    _join(s, "a")
    s.handle(S.Request("a", 1, 0))
    out = s.handle(S.ResultIn("a", "t0", 0.01, 1))  # a short task: never seen running
    assert [(j.status, j.fields["attempts"]) for j in _of(out, S.Journal)] == [("pulling", 1)]
    s = _sched([1], retries=3)
    _join(s, "a")
    for i, kind in enumerate(("fault", "timeout")):
        s.handle(S.Request("a", 1, 10 * i))
        out = s.handle(S.Failure("a", "t0", f"why {i}", kind, 10 * i + 1))
    [j] = _of(out, S.Journal)
    assert j.fields["attempts"] == 2 and [h["reason"] for h in j.fields["history"]] == [
        "why 0", "why 1"]


def test_poisoned_run_times_do_not_starve_walltime_workers():
    s = _sched([10, 10, 10, 10])  # estimated 1 s each
    _join(s, "a", slots=1)
    s.handle(S.Request("a", 1, 0))
    s.handle(S.TaskState("a", "t0", "simulating", 0))
    _result(s, "a", "t0", 1e308, 1)   # one absurd measurement
    assert s.time_scale() <= 100
    out = s.handle(S.Request("a", 1, 2, left_s=1000.0))
    assert _assigned(out) == ["t1"]  # 1 s x scale (<= 100) x margin fits 1000 s


def test_no_one_is_declared_dead_while_the_coordinator_is_stalled():
    s = _sched([2, 1], heartbeat_timeout_s=3.0)
    _join(s, "a")
    s.handle(S.Request("a", 1, 0))
    s.handle(S.Stall(1, True))
    assert not _of(s.handle(S.Tick(30)), S.DropWorker)
    assert not _assigned(s.handle(S.Request("a", 2, 30)))  # no dispatch meanwhile ...
    assert _assigned(s.handle(S.Stall(31, False))) == ["t1"]  # ... until the stall ends
    assert not _of(s.handle(S.Tick(33)), S.DropWorker)  # a full timeout from the resume
    assert _of(s.handle(S.Tick(34.5)), S.DropWorker)


def test_idle_slots_never_steal_or_copy_a_task_whose_result_is_in():
    s = _sched([9, 8], speculate_after_s=0.0)
    _join(s, "a", slots=1)
    s.handle(S.Request("a", 2, 0))  # t0 runs, t1 waits
    s.handle(S.TaskState("a", "t0", "simulating", 0))
    s.handle(S.ResultIn("a", "t0", 1, 5))  # in, being stored
    _join(s, "b", slots=2, now=5)
    out = s.handle(S.Request("b", 2, 6))
    assert _assigned(out) == ["t1"]  # the waiting one is stolen; t0 is not copied
