"""The coordinator's journal writer: batches task states and results into durable store writes.

All run-directory writes of a coordinator go through one thread, in submission order. Task
states are written without waiting (`status`); a result (`record`) is stored (data up to
`store.schema.INDEX_BLOB_MAX_BYTES` inside the index, larger data by `os.replace` of its
fsynced temp file to `store.data_path(tid)`) and recorded, and its future resolves only once
that is durable, so the worker's ``ack`` follows the fsync. Whatever accumulates while a write
is in flight goes into the next batch: one transaction, one fsync.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import logging
import os
import time
from dataclasses import dataclass

from neunet.atomic import fsync_dir, temp_path

log = logging.getLogger("neunet.coordinator")
# Seconds between tries to write while the disk is full.
DISK_RETRY_S = 1.0
# libc handle for syncfs (None: not loaded yet, False: unavailable).
_LIBC = None


class JournalWriter:
    """Batched, ordered, durable writes to a `neunet.store.RunStore`.

    Parameters
    ----------
    store : neunet.store.RunStore
    on_disk_full : callable, optional
        Called with the error when a write finds the disk full (the writer then retries
        every `DISK_RETRY_S`, keeping everything queued) and with None once a write succeeds
        again.
    """

    def __init__(self, store, on_disk_full=None):
        self.store = store
        self.on_disk_full = on_disk_full or (lambda exc: None)
        self.disk_full = None  # the error while the disk is full
        self._calls: list = []
        self._statuses: dict = {}  # tid -> [status, fields]: the latest state of each task
        self._results: list = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="journal")
        self._task = asyncio.ensure_future(self._loop())
        self.errors: list = []

    def call(self, fn, *args) -> None:
        """Run ``fn(*args)`` in the writer thread before everything queued after it."""
        self._calls.append((fn, args))
        self._kick()

    def status(self, tid: str, status: str, fields: dict) -> None:
        """Queue a task-state write (not awaited)."""
        queued = self._statuses.get(tid)
        if queued is None:
            self._statuses[tid] = [status, dict(fields or {})]
        else:  # as if written in turn: the last status, each field's last value
            queued[0] = status
            queued[1].update(fields or {})
        self._kick()

    def record(self, tid, summary, real_s, worker, tmp_path, data=None,
               digest=None) -> asyncio.Future:
        """Queue a result (its data in the fsynced file `tmp_path`, or as bytes `data`; its
        result_hash `digest` if the worker computed it); the future resolves when it is
        durable in the run directory, or fails with the reason this one result could not be
        stored (never because another one could not). The task's finished time is now (its
        result arrived), not when the batch is written."""
        fut = asyncio.get_running_loop().create_future()
        self._results.append((_Pending(tid, summary, real_s, worker, tmp_path, data, digest,
                                       time.time()), fut))
        self._kick()
        return fut

    def _kick(self) -> None:
        self._idle.clear()
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            calls, statuses, results = self._calls, self._statuses, self._results
            self._calls, self._statuses, self._results = [], {}, []
            while not await self._write_batch(calls, statuses, results):
                await asyncio.sleep(DISK_RETRY_S)  # the disk is full: the same batch again
            if not self._calls and not self._statuses and not self._results:
                self._idle.set()

    async def _write_batch(self, calls, statuses, results) -> bool:
        """Write one batch; False when the disk is full (nothing of it is lost: retry)."""
        loop = asyncio.get_running_loop()
        rows = [(tid, st, fields) for tid, (st, fields) in statuses.items()]
        try:
            await loop.run_in_executor(self._pool, self._write, calls, rows,
                                       [r for r, _ in results])
        except Exception as exc:
            if is_disk_full(exc):
                return self._full(exc)
            await self._one_by_one(calls, rows, results, exc)
        else:
            for _, fut in results:
                if not fut.done():
                    fut.set_result(None)
        self._space_again()
        return True

    def _full(self, exc) -> bool:
        if self.disk_full is None:
            self.disk_full = exc
            self.on_disk_full(exc)
        return False

    def _space_again(self) -> None:
        if self.disk_full is not None:
            self.disk_full = None
            self.on_disk_full(None)

    async def _one_by_one(self, calls, rows, results, exc) -> None:
        """After a failed batch: the states alone, then each result alone, so that one bad
        result fails only itself (its future gets the error)."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._pool, self._write, calls, rows, [])
        except Exception as err:  # the states themselves: reported, never silently dropped
            log.error("run directory write failed: %s", err)
            self.errors.append(err)
            for _, fut in results:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for pending, fut in results:
            while True:
                try:
                    await loop.run_in_executor(self._pool, self._write, [], [], [pending])
                except Exception as err:
                    if is_disk_full(err):
                        self._full(err)
                        await asyncio.sleep(DISK_RETRY_S)
                        continue
                    fut.set_exception(err)
                else:
                    fut.set_result(None)
                break

    def _write(self, calls: list, statuses: list, results: list) -> None:
        for fn, args in calls:
            fn(*args)
        if not results:
            if statuses:
                self.store.set_statuses(statuses)
            return
        rows = self._stage(results)
        # one transaction, the states first; finished = when the result arrived
        self.store.record_results(rows, statuses, {p.tid: p.finished for p in results})

    def _stage(self, results: list) -> list:
        """Put each result's data in place (index blob, or durable file renamed to its data
        path; a file already placed by an earlier try stays); the rows for record_results."""
        # here: the coordinator starts before numpy
        from neunet.store.npz import ends_like_npz
        from neunet.store.schema import INDEX_BLOB_MAX_BYTES
        rows, staged = [], []
        for p in results:
            data_file, checked = None, False
            if p.data is not None and len(p.data) <= INDEX_BLOB_MAX_BYTES:  # into the index
                data_file = bytes(p.data)
                checked = ends_like_npz(data_file)
            elif p.data is not None:  # written now, made durable below with the whole batch
                data_file = self.store.data_path(p.tid)
                staged.append((*_write_temp(data_file, p.data, staged), data_file))
                checked = ends_like_npz(p.data)
            elif p.tmp is not None:  # already fsynced by the coordinator
                data_file = self.store.data_path(p.tid)
                if os.path.exists(p.tmp) or not os.path.exists(data_file):
                    staged.append((None, p.tmp, data_file))
            rows.append((p.tid, p.summary, p.real_s, p.worker, data_file, p.digest, checked))
        if staged:
            _place(staged, os.path.dirname(self.store.data_path(results[0].tid)))
        return rows

    async def flush(self) -> None:
        """Wait until everything queued so far is written."""
        await self._idle.wait()

    async def close(self) -> None:
        """Flush, then stop the writer thread."""
        await self.flush()
        self._task.cancel()
        self._pool.shutdown(wait=True)


@dataclass
class _Pending:
    """One result waiting to be stored."""
    tid: str
    summary: dict
    real_s: float
    worker: str
    tmp: str | None
    data: bytes | None
    digest: str | None
    finished: float


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` says the disk (or the user's quota) is full."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return "database or disk is full" in str(exc)


def _place(staged: list, data_dir: str) -> None:
    """Make staged files durable and rename them into place (temp files of this try are
    removed if that fails)."""
    try:
        _sync_files([fd for fd, _, _ in staged if fd is not None])
        for _, tmp, data_file in staged:
            os.replace(tmp, data_file)
    except BaseException:
        for fd, tmp, _ in staged:
            if fd is not None:  # written in this try (an upload's own file stays)
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass
        raise
    fsync_dir(data_dir)


def _write_temp(path, data: bytes, staged: list) -> tuple:
    """Write `data` to a new temp file next to `path` (not yet synced); return (its open fd,
    its name). On failure close and remove it and the files already `staged` in this try."""
    tmp = temp_path(path)
    fd = None
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except BaseException:
        for other, name in [(fd, tmp)] + [(f, t) for f, t, _ in staged if f is not None]:
            if other is not None:
                os.close(other)
                try:
                    os.unlink(name)
                except FileNotFoundError:
                    pass
        raise
    return fd, tmp


def _sync_files(fds: list) -> None:
    """Make the written files durable and close them: one ``syncfs`` for a batch (Linux)
    instead of one fsync (one disk flush) per small result; fsync each elsewhere."""
    try:
        if len(fds) > 1 and _syncfs(fds[0]):
            return
        for fd in fds:
            os.fsync(fd)
    finally:
        for fd in fds:
            os.close(fd)


def _syncfs(fd: int) -> bool:
    """``syncfs(2)`` of the filesystem holding `fd`; False where it is unavailable."""
    global _LIBC
    if _LIBC is None:
        try:
            import ctypes
            import ctypes.util
            _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
            _LIBC.syncfs.argtypes = [ctypes.c_int]
        except (OSError, AttributeError):
            _LIBC = False
    if not _LIBC:
        return False
    if _LIBC.syncfs(fd) != 0:
        import ctypes
        err = ctypes.get_errno()
        raise OSError(err, f"syncfs failed: {os.strerror(err)}")
    return True
