"""The original interface's `lab` and `Servant`: a sweep's coordinator and workers from Python.

    l = lab(tasks, HOST, PORT, gen_cmd='v rm')   # serve these tasks (as the coordinator)
    tasks = l.start()                            # blocks until the sweep is over
    Servant((HOST, PORT)).start()                # on each servant machine (as a worker)

Thin layers over the runner: `lab.start` is ``python -m neunet.coordinator`` given its tasks
directly (`neunet.runner.coordinator.cli.serve`): the same run directory (default
``runs/<name of the script>``), journal, resumption after ctrl-c (start again: finished
tasks are kept), authentication and port release. `Servant.start` is ``python -m
neunet.worker`` (`neunet.runner.worker.cli.main`): it waits for the lab, works until the
sweep is over and reconnects if the lab is restarted.
"""
from __future__ import annotations

import os
import sys

# gen_cmd words of the original lab, as gen_neu's modes mean them.
GEN_CMD_WORDS = ("v", "rm", "no-rm", "extra-data")
# gen_neu mode words that have no meaning for a sweep.
NOT_FOR_LAB = ("read", "nameX", "cmd", "live")
# Outputs kept with ``extra-data`` beyond the simulator's usual ones.
EXTRA_DATA = ("conductance", "ion_gate")
# Exit status of an interrupted coordinator (ctrl-c with tasks left).
INTERRUPTED = 130


class LabError(ValueError):
    """Bad tasks, filter, address or gen_cmd: nothing was started."""


def parse_gen_cmd(gen_cmd: str) -> set:
    """The words of a lab's gen_cmd, checked (v, rm, no-rm, extra-data)."""
    if not isinstance(gen_cmd, str):
        raise LabError(f"gen_cmd must be a string of words such as 'v rm', got {gen_cmd!r}")
    words = set(gen_cmd.replace("extro-data", "extra-data").split())
    for word in words:
        if word in NOT_FOR_LAB:
            raise LabError(f"gen_cmd word {word!r} has no meaning for a lab (use gen_neu)")
        if word not in GEN_CMD_WORDS:
            from neunet.params import suggest
            raise LabError(f"unknown gen_cmd word {word!r}{suggest(word, GEN_CMD_WORDS)}; "
                           f"known words: {' '.join(GEN_CMD_WORDS)}")
    if {"rm", "no-rm"} <= words:
        raise LabError("gen_cmd: 'rm' and 'no-rm' contradict each other")
    return words


def _with_extra_data(user_filter):
    """The filter keeping conductances and gates too (``extra-data``)."""
    from neunet.analysis import filters
    if user_filter is None:
        user_filter = {}
    elif isinstance(user_filter, str):
        user_filter = {"keep_if": user_filter}
    elif not isinstance(user_filter, dict):
        return user_filter                    # the coordinator's check says what is wrong
    keep = user_filter.get("keep") or list(filters.BASE_OUTPUTS)
    keep = [keep] if isinstance(keep, str) else list(keep)
    return dict(user_filter, keep=keep + [k for k in EXTRA_DATA if k not in keep])


def _script_name() -> str:
    """The running script (it names the default run directory), else "lab"."""
    main = sys.argv[0] if sys.argv else ""
    return main if main.endswith(".py") and os.path.isfile(main) else "lab"


class lab:  # the original interface's name; `Lab` is the PEP 8 alias
    """Serve a sweep's tasks to servants (workers) and collect their results.

    Parameters
    ----------
    tasks : list of Task or of parameter dicts
        The sweep (`neunet.task_generator(...).generate()`).
    HOST, PORT : str, int
        Address to listen on (``0.0.0.0`` for servants on other machines: then a token is
        needed). PORT 0 picks a free port.
    gen_cmd : str
        Words as gen_neu's modes mean them: ``v`` (a status line while serving), ``rm`` /
        ``no-rm`` (results are kept in the run directory either way), ``extra-data`` (also
        keep conductances and, for HH models, gating variables).
    token : str or bytes, optional
        Shared token of the lab and its servants (default: --token-file / $NEUNET_TOKEN
        rules of the coordinator; none is needed on 127.0.0.1).
    run_dir : str, optional
        Run directory (default ``runs/<script name>``; the same directory resumes).
    slots : int
        Simulations this machine runs itself besides serving (default 0, as the original).
    filter : dict or str, optional
        The smart filter (see `neunet.analysis.filters`).
    seed : int
        Sweep seed for tasks without one (default 0).
    retries : int
        Retries of a failing task.
    dashboard : bool or str, optional
        Serve the live web dashboard (its address printed), on ``"[HOST:]PORT"`` if given;
        default: with ``v`` in gen_cmd.
    """

    def __init__(self, tasks, HOST="127.0.0.1", PORT=22222, gen_cmd="v rm", *, token=None,
                 run_dir=None, slots=0, filter=None, seed=0, retries=2, dashboard=None):
        self.tasks = list(tasks)
        self.host, self.port = HOST, int(PORT)
        self.words = parse_gen_cmd(gen_cmd)
        self.filter = _with_extra_data(filter) if "extra-data" in self.words else filter
        self.token, self.run_dir, self.slots = token, run_dir, slots
        self.seed, self.retries = seed, retries
        self.dashboard = "v" in self.words if dashboard is None else dashboard
        self.run = None          # the run directory's view (`neunet.open_run`) after start

    def _argv(self) -> list:
        argv = [_script_name(), "--host", self.host, "--port", str(self.port),
                "--local-slots", str(self.slots), "--retries", str(self.retries)]
        if self.run_dir is not None:
            argv += ["--run-dir", str(self.run_dir)]
        if "v" not in self.words:
            argv += ["--quiet", "--log-level", "WARNING"]
        if self.dashboard is False:
            argv += ["--no-dashboard"]
        elif isinstance(self.dashboard, str):
            argv += ["--dashboard", self.dashboard]
        return argv

    def start(self) -> list:
        """Serve until every task is finished or failed; return the tasks, filled in.

        Each task gets its ``status``, ``time`` (``[estimated cost, estimated seconds, real
        seconds]``), ``assigned_to`` (the servant that ran it) and ``data`` (its kept arrays
        as a `Result`; None when the filter dropped them or the task failed). Summary
        statistics: ``self.run.table()`` or ``self.run.summary(tid)``.

        Raises
        ------
        LabError
            Bad tasks, filter or address (one line, nothing started).
        KeyboardInterrupt
            After ctrl-c: everything finished so far is in the run directory (and in
            ``self.tasks``); call `start` again, or run the script again, to resume.
        """
        from neunet.runner.coordinator import cli
        sources = "lab tasks"

        def sweep():
            return cli.sweep_of(self.tasks, self.filter, self.seed, sources)

        try:
            code = cli.serve(self._argv(), sweep=sweep, token=self.token)
        except cli.UsageError as exc:
            raise LabError(str(exc)) from None
        self._collect(cli.run_dir_of(cli.build_parser().parse_args(self._argv())))
        if code == INTERRUPTED:
            raise KeyboardInterrupt
        return self.tasks

    def _collect(self, run_dir: str) -> None:
        """Fill the tasks in from the run directory."""
        from neunet.store import NoDataError, open_run
        from neunet.sweep.tasks import Task
        self.run = open_run(run_dir)
        rows = self.run.table().set_index("tid")
        self.tasks = [t if isinstance(t, Task) else Task(dict(t)) for t in self.tasks]
        for task in self.tasks:
            row = rows.loc[task.tid]
            task.status = row["status"]
            task.assigned_to = [row["worker"]] if isinstance(row["worker"], str) else []
            task.time = [_number(row["est_cost"]), _number(row["est_s"]),
                         _number(row["real_s"])]
            try:
                task.data = self.run.load(task.tid)
            except NoDataError:
                task.data = None


def _number(value):
    """A float, or None for a missing value (NaN in the table)."""
    value = float(value) if value is not None else float("nan")
    return None if value != value else value


class Servant:
    """Work for a lab: run its tasks, send the results back, until the sweep is over.

    Parameters
    ----------
    ADDR : (str, int)
        The lab's (HOST, PORT).
    slots : int, optional
        Simulations run at once (default: number of cores).
    token : str or bytes, optional
        The lab's shared token (default: --token-file / $NEUNET_TOKEN rules of the worker).
    name : str, optional
        Name the lab shows for this servant (default host:pid).
    """

    def __init__(self, ADDR, slots=None, *, token=None, name=None):
        host, port = ADDR
        self.address = f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
        self.slots, self.token, self.name = slots, token, name

    def start(self) -> int:
        """Work until the lab says the sweep is over (waiting for it to appear, and again if
        it is restarted); returns the worker's exit status (0; 130 after ctrl-c)."""
        from neunet.runner.worker import cli
        argv = ["--connect", self.address]
        if self.slots is not None:
            argv += ["--slots", str(self.slots)]
        if self.name is not None:
            argv += ["--name", self.name]
        code = cli.main(argv, token=self.token)
        if code == 2:
            raise LabError(f"servant of {self.address}: bad arguments (see the line above)")
        return code


# PEP 8 names, and the original's name of the servant class.
Lab = lab
servant_machine = Servant
