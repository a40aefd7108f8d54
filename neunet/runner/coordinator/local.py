"""Owns the coordinator's own worker process (--local-slots): start, watch, restart, clean up.

It is started by the command line before the sweep is loaded (its slots warm up meanwhile),
spools its large results inside the run directory (`LOCAL_SPOOL_DIR`, so the coordinator moves
them into place instead of receiving them through a socket), is restarted when it dies
before the sweep ends (at most `LOCAL_RESTARTS` times) and is waited for at the end.
"""
from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import time

# The local worker's spool directory, inside the run directory.
LOCAL_SPOOL_DIR = ".spool"
# Seconds the local worker gets to exit after the sweep, and between checks that it has.
LOCAL_EXIT_WAIT_S, LOCAL_EXIT_POLL_S = 5.0, 0.01
# Seconds between checks that the local worker is alive, and how often it is restarted.
LOCAL_WATCH_S, LOCAL_RESTARTS = 0.5, 3


def local_spool(run_dir: str) -> str:
    """The local worker's spool directory: inside the run directory, so that its large
    results are moved into place instead of copied through a socket."""
    return os.path.join(run_dir, LOCAL_SPOOL_DIR)


def remove_spool(run_dir: str) -> None:
    """Remove the local worker's spool (and the run directory, if that leaves it empty)."""
    shutil.rmtree(local_spool(run_dir), ignore_errors=True)
    try:
        os.rmdir(run_dir)  # only if nothing else is in it
    except OSError:
        pass


def start_local_worker(host: str, port: int, slots: int, token: bytes,
                       spool_dir: str, tls_cert: str | None = None) -> subprocess.Popen:
    """Start a worker process on this machine that exits when the coordinator goes away (here,
    not in the server: started before the server's modules are imported), with a fresh spool
    directory `spool_dir` (what an earlier run left there is gone: its tasks run
    again). With TLS (`tls_cert`, the coordinator's certificate) it checks that certificate."""
    import shutil

    from neunet.runner.wire import auth
    shutil.rmtree(spool_dir, ignore_errors=True)
    env = dict(os.environ, **{auth.TOKEN_ENV: token.decode()})
    connect = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    tls = []
    if tls_cert is not None:
        from neunet.runner.wire.tls import certificate_name
        tls = ["--tls-ca", tls_cert, "--tls-server-name", certificate_name(tls_cert) or host]
    return subprocess.Popen(
        [sys.executable, "-m", "neunet.worker", "--connect", connect, "--slots", str(slots),
         "--name", f"local@{socket.gethostname()}", "--exit-on-disconnect",
         "--log-level", "WARNING", "--spool-dir", spool_dir, *tls],
        env=env, start_new_session=True)


class LocalWorker:
    """The coordinator's own worker process (--local-slots): started (or the one started
    early adopted), restarted if it dies before the sweep ends (at most LOCAL_RESTARTS times),
    waited for at the end, and its spool removed."""

    def __init__(self, host: str, port: int, slots: int, token: bytes, run_dir: str,
                 proc=None, tls_cert: str | None = None):
        self.host, self.port, self.slots, self.token = host, port, slots, token
        self.run_dir, self.tls_cert = run_dir, tls_cert
        self.restarts = 0
        self.proc = proc if proc is not None or slots <= 0 else self._start()

    def _start(self):
        return start_local_worker(self.host, self.port, self.slots, self.token,
                                  local_spool(self.run_dir), self.tls_cert)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()

    async def watch(self, coord) -> None:
        """Restart the local worker when it exits while the sweep goes on."""
        import asyncio  # not at the top: this module is imported before the worker starts
        log = logging.getLogger("neunet.coordinator")
        while self.proc is not None:
            await asyncio.sleep(LOCAL_WATCH_S)
            code = self.proc.poll()
            if code is None or coord.stop.is_set() or coord.done.is_set():
                continue
            if self.restarts >= LOCAL_RESTARTS:
                log.error("the local worker exited with status %s again; no local slots now "
                          "(other workers can still connect)", code)
                self.proc = None
                return
            self.restarts += 1
            log.warning("the local worker exited with status %s; starting it again", code)
            self.proc = self._start()

    async def wait_and_clean(self) -> None:
        """Wait for the local worker to exit (kill it after LOCAL_EXIT_WAIT_S), then remove
        its spool."""
        import asyncio
        if self.proc is not None:
            deadline = time.monotonic() + LOCAL_EXIT_WAIT_S
            while self.proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(LOCAL_EXIT_POLL_S)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        if self.slots > 0:
            remove_spool(self.run_dir)
