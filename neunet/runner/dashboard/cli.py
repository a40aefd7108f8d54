"""Command line of the dashboard: ``python -m neunet.dashboard RUN_DIR [--dashboard [HOST:]PORT]``.

Serves the dashboard of any run directory (running or finished, filled by the coordinator or
by the Dask executor) until ctrl-c. Exit status 0, or 2 for bad usage (one line on stderr).
"""
from __future__ import annotations

import argparse
import asyncio
import sys


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The dashboard's argument parser."""
    p = _Parser(prog="python -m neunet.dashboard",
                description="Serve the live web dashboard of a run directory (the "
                            "coordinator serves one by itself while it runs).")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (--run-dir of a sweep)")
    p.add_argument("--dashboard", "--listen", dest="where", metavar="[HOST:]PORT",
                   help="where to listen (default 127.0.0.1, a free port from 8722 up); on "
                        "an address other than loopback the page asks for the sweep's token")
    p.add_argument("--token-file", help="file holding the sweep's token (or $NEUNET_TOKEN); "
                                        "needed when listening beyond loopback")
    return p


async def _serve(args, token) -> int:
    from neunet.runner.dashboard.embed import announce, parse_where
    from neunet.runner.dashboard.server import Dashboard
    host, port = parse_where(args.where)
    dash = Dashboard(args.run_dir, host=host, port=port, token=token)
    await dash.payload()  # read the run before the URL is shown: the first page is quick
    url = await dash.start(eager=True)
    announce(url, what="dashboard (ctrl-c to stop)")
    stop = asyncio.Event()
    import signal
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await dash.close()
    return 0


def main(argv=None) -> int:
    """Entry point; returns the exit status."""
    from neunet.runner.dashboard.embed import DashboardOptionError
    from neunet.runner.wire import auth
    from neunet.store import StoreError
    try:
        args = build_parser().parse_args(argv)
        token = auth.load_token(args.token_file)
        from neunet.runner.loop import run_async
        return run_async(_serve(args, token))
    except (_UsageError, StoreError, DashboardOptionError, auth.AuthError, OSError,
            ValueError) as exc:
        print(f"neunet.dashboard: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
