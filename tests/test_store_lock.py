"""Tests of neunet.store.lock: one writing process per run directory, named when refused."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from neunet.store import RunStore
from neunet.store.lock import RunLock, RunLockedError

_HOLDER = textwrap.dedent("""
    import sys, time
    from neunet.store import RunStore
    from neunet.store.lock import RunLock
    lock = RunLock.acquire(sys.argv[1], program="a coordinator")
    store = RunStore(sys.argv[1])          # the same process: the lock is reused
    lock.describe(address="127.0.0.1:40404")
    print("locked", flush=True)
    time.sleep(120)
""")


def test_a_second_process_is_refused_naming_the_first_until_it_dies(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(run_dir)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=rf"in use by a coordinator \(pid {proc.pid}, "
                                                 r"listening on 127\.0\.0\.1:40404\)"):
            RunStore(run_dir)
        with pytest.raises(RunLockedError):
            RunLock.acquire(run_dir)
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # the kernel drops its lock with it
        proc.wait()
    store = RunStore(run_dir)
    store.close()


def test_the_same_process_reuses_its_lock_and_the_last_release_frees_it(tmp_path):
    first = RunStore(tmp_path / "run")
    second = RunStore(tmp_path / "run")  # e.g. a restart inside one test process
    assert first.run_lock is second.run_lock
    first.close()
    code = f"from neunet.store import RunStore; RunStore({str(tmp_path / 'run')!r})"
    busy = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "RunLockedError" in busy.stderr and f"pid {os.getpid()}" in busy.stderr
    second.close()
    free = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert free.returncode == 0, free.stderr
