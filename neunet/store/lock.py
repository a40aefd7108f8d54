"""The run directory's lock: one writing process at a time, and who holds it when refused.

`RunLock.acquire(run_dir)` takes an exclusive ``flock`` on ``RUN_DIR/lock`` (released by the
kernel when the process exits, however it exits: a stale lock cannot outlive its holder) and
writes the holder's pid, host and, once known, the address it listens on into the file, so a
second coordinator on the same run directory is refused with a message naming them. The same
process may acquire its own lock again (the coordinator takes it before binding its port, and
its `RunStore` then reuses it).
"""
from __future__ import annotations

import json
import os
import socket

from neunet.store.errors import StoreError

# File name of the lock inside a run directory.
LOCK_NAME = "lock"
# Most bytes of a lock file read to describe its holder.
_MAX_LOCK_BYTES = 4096
# How a holder that did not say what it is is named.
_DEFAULT = "a neunet process"
# Locks this process holds: real path of the run directory -> RunLock.
_HELD: dict = {}


class RunLockedError(StoreError):
    """The run directory is in use by another process (the message names it)."""


class RunLock:
    """An acquired lock on a run directory (use `RunLock.acquire`)."""

    def __init__(self, key: str, path: str, fd: int):
        self.key, self.path, self._fd = key, path, fd
        self.users = 1
        self.info = {"pid": os.getpid(), "host": socket.gethostname(), "program": _DEFAULT}

    @classmethod
    def acquire(cls, run_dir, program: str | None = None) -> RunLock:
        """Lock `run_dir` (created if missing) for this process.

        Parameters
        ----------
        run_dir : str or Path
        program : str, optional
            What holds it, in the message of a refused process (e.g. "a coordinator").

        Raises
        ------
        RunLockedError
            When another process holds it: naming its pid, host and address.
        StoreError
            When the lock file cannot be created.
        """
        import fcntl

        key = os.path.realpath(run_dir)
        held = _HELD.get(key)
        if held is not None:
            held.users += 1
            if program:
                held.describe(program=program)
            return held
        path = os.path.join(key, LOCK_NAME)
        try:
            os.makedirs(key, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot lock run directory {run_dir}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _describe(fd)
            os.close(fd)
            raise RunLockedError(f"run directory {key} is in use by {holder}: stop it first, "
                                 "or use another run directory") from None
        lock = _HELD[key] = cls(key, path, fd)
        lock.describe(program=program or _DEFAULT)
        return lock

    def describe(self, **fields) -> None:
        """Add facts about the holder (e.g. ``address="127.0.0.1:22222"``) to the lock file."""
        self.info.update(fields)
        self._write()

    def _write(self) -> None:
        data = json.dumps(self.info).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def abandon(self) -> None:
        """Release the lock for good after a start that failed, and remove the lock file
        when nothing else is in the run directory (so that the directory can go too)."""
        try:
            if set(os.listdir(self.key)) <= {LOCK_NAME}:
                os.unlink(self.path)
        except OSError:
            pass
        self.users = 1
        self.release()

    def release(self) -> None:
        """Give up one use; the last one unlocks (exiting the process does too)."""
        self.users -= 1
        if self.users > 0 or self._fd is None:
            return
        _HELD.pop(self.key, None)
        os.close(self._fd)  # closing the only descriptor releases the flock
        self._fd = None


def _describe(fd: int) -> str:
    """'a coordinator (pid 123 on host h, listening on a:p)' from a held lock file."""
    try:
        info = json.loads(os.pread(fd, _MAX_LOCK_BYTES, 0) or b"{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return "another process (it is starting)"
    facts = [f"pid {info['pid']}"]
    if info.get("host") and info["host"] != socket.gethostname():
        facts[0] += f" on host {info['host']}"
    if info.get("address"):
        facts.append(f"listening on {info['address']}")
    return f"{info.get('program') or _DEFAULT} ({', '.join(facts)})"
