"""Command line of the sweep coordinator: ``python -m neunet.coordinator TASKS.py [options]``.

Runs the user's TASKS.py (a local script, with runpy; it defines ``tasks`` and may define
``filter``), syncs its tasks into the run directory, replays the journal (finished tasks are not
run again), listens for workers (``--local-slots N`` starts one on this machine), and serves
until every task is finished or failed. Exit status: 0 all finished, 1 some failed, 2 bad
usage (one line on stderr), 130 stopped by ctrl-c with tasks left (run the command again to
resume).
"""
from __future__ import annotations

import argparse
import glob
import logging
import os
import shutil
import socket
import sys

from neunet.runner.coordinator.local import (
    LocalWorker,
    local_spool,
    remove_spool,
    start_local_worker,
)
from neunet.runner.coordinator.sweep_input import (  # noqa: F401  (task_rows: public here)
    UsageError,
    load_sweep,
    sweep_of,
    task_rows,
)
from neunet.runner.exits import EXIT_INTERRUPTED
from neunet.store.errors import StoreError

# Default TCP port (the seed's).
DEFAULT_PORT = 22222
# Default seconds of silence after which a worker is dead (heartbeats come every second).
DEFAULT_HEARTBEAT_TIMEOUT_S = 3.0


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The coordinator's argument parser."""
    p = _Parser(prog="python -m neunet.coordinator",
                description="Run a parameter sweep: serve TASKS.py's tasks to workers.")
    p.add_argument("tasks", metavar="TASKS.py", help="script defining `tasks` (and `filter`)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (0: any free port)")
    p.add_argument("--run-dir", help="run directory (default runs/<name of TASKS.py>)")
    p.add_argument("--local-slots", type=int, default=None,
                   help="start a local worker with N slots (default: number of cores when "
                        "listening on loopback, else 0)")
    p.add_argument("--token-file", help="file holding the shared token (or $NEUNET_TOKEN)")
    p.add_argument("--heartbeat-timeout", type=float, default=DEFAULT_HEARTBEAT_TIMEOUT_S,
                   help="seconds of silence after which a worker is dead")
    p.add_argument("--retries", type=int, default=2, help="retries of a failing task")
    p.add_argument("--speculate-after", type=float, default=1.0,
                   help="seconds a task must run before an idle slot copies it")
    p.add_argument("--max-frame-mb", type=float, default=64.0, help="largest frame accepted")
    p.add_argument("--max-result-mb", type=float, default=1024.0,
                   help="largest result a worker may deliver (a larger one fails its task)")
    p.add_argument("--tls-cert", metavar="PEM", help="serve TLS with this certificate (chain); "
                   "workers check it with --tls-ca (docs/cluster.md)")
    p.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")
    p.add_argument("--log-level", default="INFO", help="logging level")
    p.add_argument("--quiet", action="store_true",
                   help="no status line (failures and errors are still shown)")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="run the sweep on an existing Dask cluster (tcp://scheduler:8786) "
                        "instead of serving workers; same run directory and filter")
    p.add_argument("--seed", type=int, default=None,
                   help="sweep seed: a task without a seed gets one derived from it and its "
                        "tid (default: `seed` of TASKS.py, else 0)")
    p.add_argument("--allow-version-change", action="store_true",
                   help="resume a run directory written by another neunet version")
    p.add_argument("--dashboard", metavar="[HOST:]PORT", default=None,
                   help="where the live web dashboard listens (default 127.0.0.1, a free port "
                        "from 8722 up); beyond loopback it asks for the sweep's token")
    p.add_argument("--no-dashboard", action="store_true", help="serve no web dashboard")
    return p


def _access(args, token=None) -> tuple:
    """(token or None, local slots) from the options (or the `token` given); UsageError if
    they are unusable."""
    from neunet.runner.wire import auth
    if args.port < 0 or args.port > 65535:
        raise UsageError(f"--port {args.port} is not a port number")
    if args.local_slots is not None and args.local_slots < 0:
        raise UsageError("--local-slots must be >= 0")
    local = args.local_slots
    if local is None:
        local = (os.cpu_count() or 1) if auth.is_loopback(args.host) else 0
    try:
        token = auth.load_token(args.token_file) if token is None else _as_bytes(token)
        if not args.no_dashboard:
            from neunet.runner.dashboard.embed import check_where
            check_where(args.dashboard, token)
        if token is None:
            auth.require_token_for(args.host, token)
            if local > 0:
                token = auth.new_token().encode()  # only our own local worker will know it
    except auth.AuthError as exc:
        raise UsageError(str(exc)) from None
    return token, local


def _listen_early(args, token, local):
    """Bind the port and start the local worker before the sweep is loaded, so its slots warm
    up meanwhile; (socket, worker process), or None (no local worker, --dask, or a host name
    that may stand for several addresses: bound later by asyncio)."""
    import ipaddress
    if local <= 0 or args.dask:
        return None
    try:
        version = ipaddress.ip_address(args.host).version
    except ValueError:
        return None
    family = socket.AF_INET6 if version == 6 else socket.AF_INET
    try:
        sock = socket.create_server((args.host, args.port), family=family)
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: "
                         f"{exc.strerror or exc}") from None
    return sock, start_local_worker(args.host, sock.getsockname()[1], local, token,
                                    local_spool(run_dir_of(args)), args.tls_cert)


def _as_bytes(token) -> bytes:
    return token.encode() if isinstance(token, str) else bytes(token)


def run_dir_of(args) -> str:
    """The run directory: --run-dir, else runs/<name of TASKS.py> (absolute)."""
    return os.path.abspath(args.run_dir or os.path.join(
        "runs", os.path.splitext(os.path.basename(args.tasks))[0]))


def _lock(args):
    """Take the run directory's lock (`neunet.store.lock`) before anything else: a second
    coordinator on it stops here, naming the first (a `StoreError`)."""
    from neunet.store.lock import RunLock
    return RunLock.acquire(run_dir_of(args), program="a coordinator")


def _server_tls(args):
    """The TLS context of --tls-cert/--tls-key (None without them); UsageError if unusable."""
    if (args.tls_cert is None) != (args.tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together")
    if args.tls_cert is None:
        return None
    from neunet.runner.wire import tls
    try:
        return tls.server_context(args.tls_cert, args.tls_key)
    except tls.TLSError as exc:
        raise UsageError(str(exc)) from None


def _abandon(early, args, lock) -> None:
    """Kill the early local worker (it holds nothing yet; its warming slots exit when their
    input closes), remove its spool and our lock (and the run directory if that leaves it
    empty) and close the socket, after a usage error found while loading the sweep."""
    if early is not None:
        sock, proc = early
        proc.kill()
        proc.wait()
        sock.close()
        remove_spool(run_dir_of(args))
    if lock is not None:
        lock.abandon()
        remove_spool(run_dir_of(args))  # the run directory too, if that left it empty


def _prepare(args, sweep=None):
    from neunet.store import RunStore
    rows, spec = sweep() if sweep is not None else load_sweep(args.tasks, args.seed)
    run_dir = run_dir_of(args)
    store = RunStore(run_dir)
    _check_version(store, args.allow_version_change)
    from neunet.atomic import TEMP_SUFFIX
    for leftover in glob.glob(os.path.join(run_dir, "data", f".*{TEMP_SUFFIX}")):
        os.unlink(leftover)  # a result that was arriving when the last run stopped
    return rows, spec, store


def _check_version(store, allow: bool) -> None:
    """Refuse a journal written by another neunet version unless `allow`."""
    from neunet.sweep.provenance import neunet_version
    old, now = store.get_meta("neunet_version"), neunet_version()
    if old is not None and old != now and not allow:
        store.close()
        raise UsageError(f"{store.run_dir} was written by neunet {old}, this is {now} "
                         f"(results may differ): pass --allow-version-change to resume it")


def _record_start(store, rows, argv) -> None:
    """Log kept / new / no-longer-listed tasks of a restart; write the run's provenance."""
    from neunet.sweep.provenance import run_meta
    known = store.statuses()
    if known:
        listed = {r[0] for r in rows}
        kept = len(listed & known.keys())
        logging.getLogger("neunet.coordinator").info(
            "resuming %s: %d tasks kept, %d new, %d no longer listed", store.run_dir, kept,
            len(listed) - kept, len(known) - kept)
    meta = run_meta(["-m", "neunet.coordinator", *(sys.argv[1:] if argv is None else argv)])
    store.set_meta("neunet_version", meta["neunet_version"])
    store.set_meta("provenance", meta)


def main(argv=None) -> int:
    """Entry point; returns the exit status."""
    try:
        return serve(argv)
    except UsageError as exc:
        print(f"neunet.coordinator: error: {exc}", file=sys.stderr)
        return 2


def serve(argv=None, sweep=None, token=None) -> int:
    """Serve a sweep as the command line `argv` says; returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default ``sys.argv[1:]``).
    sweep : callable, optional
        Returns ``(task rows, compiled filter)`` (see `sweep_of`) instead of running the
        TASKS.py of `argv` (`neunet.lab` gives its tasks this way; TASKS.py then only names
        the default run directory).
    token : str or bytes, optional
        The shared token, instead of --token-file or $NEUNET_TOKEN.

    Raises
    ------
    UsageError
        Bad arguments, tasks or filter (nothing was started).
    """
    early = args = lock = None
    try:
        args = build_parser().parse_args(argv)
        logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
        lock = _lock(args)
        token, local = _access(args, token)
        args.tls_context = _server_tls(args)
        early = _listen_early(args, token, local)
        rows, spec, store = _prepare(args, sweep)
    except (UsageError, ValueError, StoreError) as exc:
        _abandon(early, args, lock)
        raise UsageError(str(exc)) from None
    todo = _start_run(args, store, rows, spec, argv)
    if not todo:  # nothing to run: no local worker to start or to wait for
        local, early = 0, _without_local_worker(early, args)
    if args.dask:
        return _run_dask(args, rows, spec, store)
    from neunet.runner.coordinator import scheduler as S
    config = S.Config(retries=args.retries, heartbeat_timeout_s=args.heartbeat_timeout,
                      speculate_after_s=args.speculate_after)
    sched = S.Scheduler(todo, n_finished=len(rows) - len(todo), config=config)
    try:
        from neunet.runner.loop import run_async
        return run_async(_serve(args, sched, store, token, spec, local, rows, early))
    finally:
        store.close()


def _without_local_worker(early, args):
    """Stop the early local worker (nothing is left to run): the early socket alone."""
    if early is None:
        return None
    early[1].kill()
    early[1].wait()
    shutil.rmtree(local_spool(run_dir_of(args)), ignore_errors=True)
    return early[0], None


def _start_run(args, store, rows, spec, argv) -> list:
    """Record the run's start in the store; return the rows of the tasks still to run."""
    _record_start(store, rows, argv)
    done = store.finished()
    todo = [r for r in rows if r.tid not in done]
    logging.getLogger("neunet.coordinator").info(
        "%s: %d tasks (%d already finished) in %s", args.tasks, len(rows),
        len(rows) - len(todo), store.run_dir)
    store.set_meta("tasks_script", os.path.abspath(args.tasks))
    store.set_meta("filter", spec)
    return todo


def _run_dask(args, rows, spec, store) -> int:
    """Hand the sweep to a Dask cluster: no listener, no local worker."""
    from neunet.runner.dask.cli import main_dask
    try:
        from neunet.runner.wire import auth
        return main_dask(rows, spec, store, args.dask, retries=args.retries,
                         dashboard=False if args.no_dashboard else (args.dashboard or True),
                         token=auth.load_token(args.token_file))
    finally:
        store.close()


async def _serve(args, sched, store, token, spec, local, rows, early=None) -> int:
    """Serve the sweep until it is done or stopped; return the exit status."""
    coord, port = await _start_server(args, sched, store, token, spec, local, early)
    if coord is None:
        return 2
    # new tasks enter the index in the journal thread, ahead of any state change of theirs,
    # while workers already connect (100,000 tasks dispatch seconds sooner)
    coord.journal.call(store.sync_tasks, rows)
    store.set_meta("address", f"{args.host}:{port}")
    store.run_lock.describe(address=f"{args.host}:{port}")
    worker = LocalWorker(args.host, port, local, token, run_dir_of(args),
                         early[1] if early else None, args.tls_cert)
    dash = None
    if not args.no_dashboard:  # while the local worker's slots warm up
        from neunet.runner.dashboard.embed import start_for_coordinator
        dash = await start_for_coordinator(coord, store, args.dashboard, args.token_file)

    def hard_exit():  # second ctrl-c: the journal is SQLite (atomic commits), safe to leave
        worker.kill()
        os._exit(EXIT_INTERRUPTED)

    from neunet.runner.coordinator.progress import Progress, base_params
    from neunet.runner.coordinator.server import install_signals
    install_signals(coord, hard_exit)
    progress = Progress(coord, len(rows), base=lambda: base_params(r.pm for r in rows),
                        run_dir=_shown_dir(args), quiet=args.quiet)
    import asyncio  # here: the local worker is started before asyncio is imported
    watchers = [asyncio.ensure_future(progress.run()), asyncio.ensure_future(worker.watch(coord))]
    await coord.run()
    for watcher in watchers:
        watcher.cancel()
    await coord.shutdown()
    if dash is not None:
        await dash.close()
    await worker.wait_and_clean()
    return _finish(coord, sched, store, progress, rows)


async def _start_server(args, sched, store, token, spec, local, early):
    """(the listening Coordinator, its port), or (None, None) after a one-line error."""
    from neunet.params import plain
    from neunet.runner.coordinator.server import Coordinator
    spool = local_spool(run_dir_of(args)) if local > 0 else None
    coord = Coordinator(sched, store, token, spec, args.host, args.port,
                        int(args.max_frame_mb * 1024 * 1024), encode_pm=plain, local_spool=spool,
                        max_result_bytes=int(args.max_result_mb * 1024 * 1024),
                        ssl=args.tls_context)
    try:
        return coord, await coord.start(sock=early[0] if early else None)
    except OSError as exc:
        print(f"neunet.coordinator: error: cannot listen on {args.host}:{args.port}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return None, None


def _finish(coord, sched, store, progress, rows) -> int:
    """Report the end of the sweep (last line: the summary); the exit status (checked)."""
    progress.report_failures()
    store.set_meta("time_scale", sched.time_scale())  # measured / estimated seconds
    log = logging.getLogger("neunet.coordinator")
    log.info("peak memory %.0f MB", peak_memory_mb())
    progress.finish(interrupted=coord.interrupted)
    if coord.interrupted and sched.n_open() > 0:
        return EXIT_INTERRUPTED
    stored = len(store.finished() & {r.tid for r in rows})
    if stored != sched.n_finished:  # never report what the run directory does not hold
        log.error("%d tasks finished but %d are stored in %s", sched.n_finished, stored,
                  store.run_dir)
        return 1
    return 1 if sched.n_failed or coord.journal.errors else 0


def _shown_dir(args) -> str:
    """The run directory as the user may type it: relative when it is below the current one."""
    path = run_dir_of(args)
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def peak_memory_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    sys.exit(main())
