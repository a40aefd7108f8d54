"""The coordinator scheduler's vocabulary: the events it handles and the instructions it returns.

Plain dataclasses, no behaviour: the asyncio coordinator turns messages and timers into
events, `neunet.runner.coordinator.scheduler.Scheduler.handle(event)` returns instructions, and the
coordinator carries them out in order. Times are ``now_s`` fields (the events' clock).
"""
from __future__ import annotations

from dataclasses import dataclass, field


# ---------------------------------------------------------------- events
@dataclass
class Join:
    """A worker authenticated. `running`: tids it is already running; `held`: all it holds."""
    wid: str
    name: str
    slots: int
    now_s: float
    running: list = field(default_factory=list)
    held: list = field(default_factory=list)


@dataclass
class Disconnect:
    """A worker's connection closed (it may come back before it times out)."""
    wid: str
    now_s: float


@dataclass
class Heartbeat:
    """A worker is alive; `states` maps tid -> state of each task it runs."""
    wid: str
    now_s: float
    states: dict = field(default_factory=dict)


@dataclass
class Request:
    """A worker wants to hold `n` tasks in all (running + waiting); idempotent.

    `left_s`: seconds its allocation has left (walltime), None when unlimited."""
    wid: str
    n: int
    now_s: float
    left_s: float | None = None


@dataclass
class TaskState:
    """A worker reports a task's state (simulating, filtering, pulling)."""
    wid: str
    tid: str
    state: str
    now_s: float


@dataclass
class ResultIn:
    """A task's result was received completely from a worker."""
    wid: str
    tid: str
    real_s: float
    now_s: float
    upload: object = None  # what was received (the server's Upload; opaque to the scheduler)


@dataclass
class Stored:
    """The result `Record` asked for is durable in the run directory: the task is finished."""
    wid: str
    tid: str
    now_s: float


@dataclass
class StoreFailed:
    """The result `Record` asked for could not be stored (`reason`); `counted`: the result
    itself was at fault (invalid), so it counts against the task's retries."""
    wid: str
    tid: str
    reason: str
    counted: bool
    now_s: float


@dataclass
class Failure:
    """A task failed on a worker; kind is 'fault' (simulator error), 'timeout' (hang),
    'input' (its input is bad: not retried) or 'invalid' (its result broke the rules)."""
    wid: str
    tid: str
    error: str
    kind: str
    now_s: float


@dataclass
class Released:
    """A worker hands tasks back without running them (it is stopping)."""
    wid: str
    tids: list
    now_s: float


@dataclass
class Tick:
    """Time passes: expire silent workers."""
    now_s: float


@dataclass
class Stall:
    """The coordinator stopped reading (its journal is behind, or the disk is full) or
    reads again: no worker is declared dead and nothing is dispatched meanwhile."""
    now_s: float
    stalled: bool


@dataclass
class Stop:
    """Stop dispatching (shutdown)."""
    now_s: float


# ---------------------------------------------------------------- instructions
@dataclass
class Assign:
    """Send these task dicts (tid, pm, est_s) to the worker."""
    wid: str
    tasks: list


@dataclass
class Cancel:
    """Tell the worker to drop or kill its copy of the task."""
    wid: str
    tid: str


@dataclass
class Journal:
    """Write the task's state to the run directory."""
    tid: str
    status: str
    fields: dict = field(default_factory=dict)


@dataclass
class Record:
    """Store the received result as the task's result (durably), then report `Stored` (or
    `StoreFailed`); the acknowledgement follows `Stored`."""
    tid: str
    wid: str
    real_s: float
    upload: object = None  # the ResultIn's upload


@dataclass
class Discard:
    """Throw the received result away (task already finished or unknown)."""
    tid: str
    wid: str
    upload: object = None  # the ResultIn's upload


@dataclass
class Ack:
    """Tell the worker its result for the task is stored (or not needed): delete it."""
    wid: str
    tid: str


@dataclass
class DropWorker:
    """Close the worker's connection; it is considered dead."""
    wid: str
    reason: str


@dataclass
class AllDone:
    """Every task is finished or failed."""
    n_finished: int
    n_failed: int
