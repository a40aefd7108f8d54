"""A warm simulator process: one worker slot, reading run requests as frames on stdin.

``python -m neunet.runner.worker.slot_process`` loads the simulator once (a 1 ms run: numba
kernels come from the cache), answers ``ready``, then runs each ``run`` request (tid, pm,
out = spool directory, filter spec) through `neunet.sweep.task_run.run_task`, reports the
``filtering`` state (after a simulation of at least `REPORT_FILTERING_S`) and answers ``done``
(summary, real seconds, size of the kept arrays' .npz, ``hash``: the result's
`neunet.store.digest.result_hash`) or ``error`` (the simulator's message, and its
`failure_kind`).
The .npz of a result of at most `REPLY_DATA_MAX_BYTES` travels in the ``done`` reply (field
``data``); a larger one
is written atomically as ``<out>/<tid>.npz``. Replies go to the original stdout; anything else
the process prints goes to stderr so it cannot corrupt the frames. A crash or kill of this
process fails only the task it was running. While several short tasks wait in its input (the
worker queues them there), the replies of finished ones are held and written together
(`Replies`).
"""
from __future__ import annotations

import os
import signal
import sys
import time
import traceback

from neunet.runner.wire import frames

# prctl option: the signal this process gets when its parent dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1
# The command that starts a slot process.
SLOT_COMMAND = (sys.executable, "-m", "neunet.runner.worker.slot_process")
# Longest error text sent back (characters; the tail is kept).
MAX_ERROR_CHARS = 4000
# Results up to this size travel inside the ``done`` reply; larger ones are written to a file
# in the spool directory and streamed from there (bytes).
REPLY_DATA_MAX_BYTES = 1024 * 1024
# Capacity asked for the reply pipe (Linux's default pipe-max-size): an inline result fits
# all but its frame head (bytes).
PIPE_BYTES = 1024 * 1024
# The ``filtering`` state is reported after a simulation that took at least this long: it
# tells the worker the task is nearly done, so it queues the next one behind it in time; for
# a shorter one it would be over before anyone could use it (seconds).
REPORT_FILTERING_S = 0.02
# A finished task's reply is held back while more than this many tasks wait in the input:
# the worker refills a slot's queue of short tasks when the last queued one starts, so the
# replies of the others can travel together.
HOLD_WHILE_WAITING = 1
# Replies are never held longer than this (seconds), nor more of them than this.
HOLD_MAX_S = 0.05
HOLD_MAX_REPLIES = 16


def failure_kind(exc: BaseException) -> str:
    """``input`` for an error the task's own input causes wherever it runs (bad parameters,
    a malformed input file, a filter that cannot apply): running it again cannot help; else
    ``fault`` (retried, on another worker if one is up)."""
    from neunet.analysis.expr import FilterError
    from neunet.params import ParameterError
    from neunet.sim.cli_parser import SimInputError
    return "input" if isinstance(exc, (FilterError, ParameterError, SimInputError)) else "fault"


def _error_text(exc: BaseException) -> str:
    """The simulator's message: exception type and text, plus where it came from."""
    text = f"{type(exc).__name__}: {exc}".strip()
    if not isinstance(exc, (ValueError, RuntimeError, OSError)):
        text += "\n" + "".join(traceback.format_exception(exc)[-3:])
    return text[-MAX_ERROR_CHARS:]


def run_one(msg: dict, send) -> dict:
    """Run one task (`neunet.sweep.task_run.run_task`); return the ``done`` or ``error`` reply.
    A result of more than `REPLY_DATA_MAX_BYTES` is written to ``<out>/<tid>.npz`` instead of
    travelling in the reply."""
    from neunet.atomic import atomic_write
    from neunet.store.schema import FILTERING
    from neunet.sweep.task_run import run_task
    tid = msg["tid"]

    def simulated(sim_s: float) -> None:
        if sim_s >= REPORT_FILTERING_S:
            send({"t": "state", "tid": tid, "state": FILTERING})

    try:
        out = run_task(msg["pm"], msg.get("filter"), simulated)
    except Exception as exc:  # any simulator or filter failure fails this task only
        return {"t": "error", "tid": tid, "error": _error_text(exc), "kind": failure_kind(exc)}
    reply = {"t": "done", "tid": tid, "size": out.size, "summary": out.summary,
             "hash": out.digest, "real_s": out.real_s}
    if out.size > REPLY_DATA_MAX_BYTES:  # the arrays' memory itself: no 50 MB joined copy
        atomic_write(os.path.join(msg["out"], f"{tid}.npz"), out.npz_parts)
    elif out.size:  # small: no file to create, read back and delete per task
        reply["data"] = out.npz_bytes()
    return reply


def warm_up() -> None:
    """Load the simulator and its compiled kernels (a 1 ms one-neuron run) before 'ready'."""
    from neunet.sweep import task_run
    try:
        task_run.warm_up()
    except Exception as exc:  # warming is an optimisation: a real task reports real errors
        print(f"slot warm-up failed: {exc}", file=sys.stderr)


def _widen_pipe(fd: int) -> None:
    """Let the reply pipe hold a whole inline result (Linux: F_SETPIPE_SZ), so the slot goes
    on to its next task without waiting for the worker to read it."""
    try:
        import fcntl
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):  # not a pipe, not Linux, or over the limit
        pass


class Replies:
    """The slot's replies, written to its output; ``done`` and ``error`` replies may be held
    back while more tasks wait in the input (see `HOLD_WHILE_WAITING`), then written together
    in one write (one wake-up of the worker for several short tasks)."""

    def __init__(self, out):
        self.out = out
        self.held: list = []
        self.held_since_s = 0.0

    def send(self, msg: dict) -> None:
        """Write `msg` now, after anything held (replies stay in task order)."""
        self.held.append(frames.pack(msg))
        self.flush()

    def hold(self, msg: dict, waiting: int) -> None:
        """Hold a finished task's reply while more than `HOLD_WHILE_WAITING` tasks wait in the
        input (the worker still has work queued here), for at most `HOLD_MAX_S`."""
        if not self.held:
            self.held_since_s = time.perf_counter()
        self.held.append(frames.pack(msg))
        if (waiting <= HOLD_WHILE_WAITING or len(self.held) >= HOLD_MAX_REPLIES
                or time.perf_counter() - self.held_since_s >= HOLD_MAX_S):
            self.flush()

    def flush(self) -> None:
        if self.held:
            self.out.write(b"".join(self.held))
            self.out.flush()
            self.held = []


def spawn():
    """Start a slot process now, as a `subprocess.Popen` with pipes (the worker calls this
    before its event loop runs, so the slots warm up while it starts; `Slot.start` adopts it).
    """
    import subprocess
    return subprocess.Popen(SLOT_COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)


def _die_with_parent() -> None:
    """Be killed when the worker that started this process dies (Linux PR_SET_PDEATHSIG), so a
    SIGKILLed worker leaves no simulation running on; elsewhere the slot ends at its next
    read of the closed input."""
    parent = os.getppid()
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return
    except (OSError, AttributeError):  # no prctl here
        return
    if os.getppid() != parent:  # the worker died before the call took effect
        os._exit(1)


def main() -> int:
    """Serve run requests on stdin until it closes."""
    _die_with_parent()
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints (from anything) go to stderr, never into the frames
    _widen_pipe(out.fileno())
    sys.stdout = sys.stderr
    inbox = frames.PipeFrames(sys.stdin.fileno())
    replies = Replies(out)
    from neunet.sim.startup import hide_optional_modules, single_thread_libraries
    single_thread_libraries()
    hide_optional_modules()  # for good: this process only simulates
    warm_up()
    replies.send({"t": "ready"})
    while True:
        msg = inbox.next()
        if msg is None:
            replies.flush()
            return 0
        if msg["t"] == "run":
            replies.hold(run_one(msg, replies.send), inbox.waiting())


if __name__ == "__main__":
    sys.exit(main())
