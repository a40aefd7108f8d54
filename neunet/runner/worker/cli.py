"""Command line of a sweep worker: ``python -m neunet.worker --connect HOST:PORT --slots N``.

Connects to a coordinator (waiting and retrying with backoff until it appears; with TLS when
``--tls-ca`` or ``--tls`` is given), proves the shared token (``--token-file`` or
``$NEUNET_TOKEN``) and runs up to N simulations at once in warm simulator processes. Ctrl-c
once: finish and deliver the running tasks, then exit; twice: kill them and hand them back.
Exit status 0, 1 when a simulator slot cannot start (the reason is logged), or 2 for bad usage
(one line on stderr), a token the coordinator refuses, a coordinator that cannot prove it
knows the token, or a certificate that does not check out.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from neunet.runner.status import StatusLine


class UsageError(Exception):
    """Bad command line: one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The worker's argument parser."""
    p = _Parser(prog="python -m neunet.worker", description="Run sweep tasks for a coordinator.")
    p.add_argument("--connect", default="127.0.0.1:22222", metavar="HOST:PORT",
                   help="coordinator address")
    p.add_argument("--slots", type=int, default=os.cpu_count() or 1,
                   help="simulations run at once (default: number of cores)")
    p.add_argument("--prefetch", type=int, default=None,
                   help="tasks held waiting beyond the slots (default: = slots)")
    p.add_argument("--token-file", help="file holding the shared token (or $NEUNET_TOKEN)")
    p.add_argument("--name", help="name shown by the coordinator (default host:pid)")
    p.add_argument("--spool-dir", help="where finished results wait for delivery")
    p.add_argument("--task-timeout-min", "--min-timeout", type=float, default=300.0,
                   dest="task_timeout_min",
                   help="a task is killed (a hang: counted as a fault) after "
                        "max(this, factor x estimate) seconds")
    p.add_argument("--task-timeout-factor", "--timeout-factor", type=float, default=20.0,
                   dest="task_timeout_factor")
    p.add_argument("--walltime", help="time this worker may run (4h, 90m, 1:30:00); also read "
                   "from $SLURM_JOB_END_TIME: it takes only tasks that fit and drains before")
    p.add_argument("--drain", type=float, default=None, metavar="SECONDS",
                   help="stop taking work this long before the end (default: 10%% of the "
                        "walltime, at most 120 s)")
    p.add_argument("--tls-ca", metavar="PEM",
                   help="connect with TLS and check the coordinator's certificate against this "
                        "CA (or the coordinator's own self-signed certificate)")
    p.add_argument("--tls", action="store_true",
                   help="connect with TLS, checking the certificate against the system's CAs")
    p.add_argument("--tls-server-name", metavar="NAME",
                   help="the name the certificate must carry (default: the --connect host)")
    p.add_argument("--exit-on-disconnect", action="store_true",
                   help="exit when the coordinator goes away (local workers)")
    p.add_argument("--log-level", default="INFO")
    return p


def parse_address(text: str) -> tuple[str, int]:
    """'host:port' or '[v6]:port' -> (host, port); UsageError if malformed."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--connect {text!r} is not HOST:PORT")
    return host, int(port)


def main(argv=None, token=None) -> int:
    """Entry point; returns the exit status. `token` (str or bytes) replaces --token-file
    and $NEUNET_TOKEN (`neunet.Servant` passes its own)."""
    from neunet.runner.wire import auth
    prestarted = []
    try:
        args = build_parser().parse_args(argv)
        host, port = parse_address(args.connect)
        _check_counts(args)
        args.tls_context = _client_tls(args, host)
        if token is None:
            token = auth.load_token(args.token_file)
        elif isinstance(token, str):
            token = token.encode()
        logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
        from neunet.runner.worker.slot_process import spawn
        prestarted = [spawn() for _ in range(args.slots)]  # they warm up while we start
        from neunet.runner.worker.walltime import allocation_end
        end_s = allocation_end(args.walltime)
    except (UsageError, auth.AuthError, ValueError) as exc:
        for proc in prestarted:
            proc.kill()
            proc.wait()
        print(f"neunet.worker: error: {exc}", file=sys.stderr)
        return 2
    from neunet.runner.loop import run_async
    return run_async(_run(args, host, port, token, end_s, prestarted))


def _client_tls(args, host: str):
    """(TLS context, name the certificate must carry), or None without --tls/--tls-ca."""
    if args.tls_ca is None and not args.tls:
        return None
    from neunet.runner.wire import tls
    try:
        return tls.client_context(args.tls_ca), args.tls_server_name or host
    except tls.TLSError as exc:
        raise UsageError(str(exc)) from None


def _check_counts(args) -> None:
    """UsageError for counts out of range."""
    if args.slots < 1:
        raise UsageError("--slots must be >= 1")
    if args.prefetch is not None and args.prefetch < 0:
        raise UsageError("--prefetch must be >= 0")
    if args.drain is not None and args.drain < 0:
        raise UsageError("--drain must be >= 0")


async def _run(args, host, port, token, end_s, prestarted) -> int:
    """Build the worker (a `WalltimeWorker` when the allocation has an end) and run it."""
    import asyncio

    from neunet.runner.worker.walltime import WalltimeWorker
    from neunet.runner.worker.worker import Worker
    kw = dict(spool_dir=args.spool_dir, name=args.name, prefetch=args.prefetch,
              exit_on_disconnect=args.exit_on_disconnect,
              timeout_min_s=args.task_timeout_min, timeout_factor=args.task_timeout_factor,
              prestarted=prestarted, tls=args.tls_context)
    if end_s is None:
        return await run_worker(Worker(host, port, args.slots, token, **kw))
    worker = WalltimeWorker(host, port, args.slots, token, end_s=end_s, drain_s=args.drain, **kw)
    drain = asyncio.ensure_future(worker.drain_at_end())
    try:
        return await run_worker(worker)
    finally:
        drain.cancel()


async def run_worker(worker) -> int:
    """Run a `Worker` until the sweep is done, it is stopped (ctrl-c once:
    finish and deliver; twice: abandon), or (local) the coordinator goes."""
    import asyncio
    import shutil
    import signal
    loop = asyncio.get_running_loop()
    presses = []

    def on_signal():
        presses.append(1)
        worker.stop() if len(presses) == 1 else worker.abort()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    conn = asyncio.ensure_future(worker.connect_loop())
    slots = [asyncio.ensure_future(worker.runner.slot_loop(s)) for s in worker.runner.slots]
    watch = asyncio.ensure_future(worker.watch_stopping())
    shown = logging.getLogger().isEnabledFor(logging.INFO)  # not a local worker's WARNING
    line = StatusLine().install() if shown else None
    status = asyncio.ensure_future(show_status(worker, line)) if shown else None
    await worker.finished.wait()
    if shown:
        status.cancel()
        line.finish(status_text(worker))
    if worker.out is not None:
        try:
            worker.send({"t": "bye"})
            await asyncio.wait_for(worker.out.drain(), 2.0)
        except (ConnectionError, asyncio.TimeoutError):
            pass
    for task in [conn, watch, *slots]:
        task.cancel()
    await asyncio.gather(*(s.close() for s in worker.runner.slots), return_exceptions=True)
    if worker.own_spool:
        shutil.rmtree(worker.spool, ignore_errors=True)
    return worker.exit_status


def status_text(worker) -> str:
    """The worker's status line: tasks done and failed, busy slots and what each runs."""
    now = time.monotonic()
    busy = [s for s in worker.runner.slots if s.task is not None]
    text = (f"worker {worker.name}: {worker.n_replies.get('done', 0)} done, "
            f"{worker.n_replies.get('failed', 0)} failed, {len(busy)}/{worker.n_slots} slots busy")
    if worker.out is None:
        text += " (not connected)"
    running = [f"{s.task['tid'][:12]} {s.state} {now - s.started_s:.0f}s" for s in busy[:4]]
    return text + (": " + ", ".join(running) if running else "")


async def show_status(worker, line) -> None:
    """Redraw the worker's status line (a terminal), or log it every period (INFO)."""
    import asyncio
    log = logging.getLogger("neunet.worker")
    while True:
        await asyncio.sleep(line.period_s)
        if line.tty:
            line.show(status_text(worker))
        else:
            log.info("%s", status_text(worker))


if __name__ == "__main__":
    sys.exit(main())
