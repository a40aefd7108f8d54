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
import logging
import os
import time

from neunet.atomic import fsync_dir, temp_path

log = logging.getLogger("neunet.coordinator")
# libc handle for syncfs (None: not loaded yet, False: unavailable).
_LIBC = None


class JournalWriter:
    """Batched, ordered, durable writes to a `neunet.store.RunStore`.

    Parameters
    ----------
    store : neunet.store.RunStore
    """

    def __init__(self, store):
        self.store = store
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
        durable in the run directory. The task's finished time is now (its result arrived),
        not when the batch is written."""
        fut = asyncio.get_running_loop().create_future()
        self._results.append(((tid, summary, real_s, worker, tmp_path, data, digest,
                               time.time()), fut))
        self._kick()
        return fut

    def _kick(self) -> None:
        self._idle.clear()
        self._wake.set()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            calls, statuses, results = self._calls, self._statuses, self._results
            self._calls, self._statuses, self._results = [], {}, []
            statuses = [(tid, st, fields) for tid, (st, fields) in statuses.items()]
            try:
                await loop.run_in_executor(self._pool, self._write, calls, statuses,
                                           [r for r, _ in results])
            except Exception as exc:  # a failed write is reported, never silently dropped
                log.error("run directory write failed: %s", exc)
                self.errors.append(exc)
                for _, fut in results:
                    if not fut.done():
                        fut.set_exception(exc)
            else:
                for _, fut in results:
                    if not fut.done():
                        fut.set_result(None)
            if not self._calls and not self._statuses and not self._results:
                self._idle.set()

    def _write(self, calls: list, statuses: list, results: list) -> None:
        for fn, args in calls:
            fn(*args)
        if not results:
            if statuses:
                self.store.set_statuses(statuses)
            return
        # here: the coordinator starts before numpy
        from neunet.store.npz import ends_like_npz
        from neunet.store.schema import INDEX_BLOB_MAX_BYTES
        rows, staged = [], []
        finished = {}
        for tid, summary, real_s, worker, tmp, data, digest, finished[tid] in results:
            data_file, checked = None, False
            if data is not None and len(data) <= INDEX_BLOB_MAX_BYTES:  # into the index: no file
                data_file = bytes(data)
                checked = ends_like_npz(data_file)
            elif data is not None:  # written now, made durable below with the whole batch
                data_file = self.store.data_path(tid)
                staged.append((*_write_temp(data_file, data, staged), data_file))
                checked = ends_like_npz(data)
            elif tmp is not None:  # already fsynced by the coordinator
                data_file = self.store.data_path(tid)
                staged.append((None, tmp, data_file))
            rows.append((tid, summary, real_s, worker, data_file, digest, checked))
        if staged:
            _sync_files([fd for fd, _, _ in staged if fd is not None])
            for _, tmp, data_file in staged:
                os.replace(tmp, data_file)
            fsync_dir(os.path.dirname(self.store.data_path(results[0][0])))
        # one transaction, the states first; finished = when the result arrived
        self.store.record_results(rows, statuses, finished)

    async def flush(self) -> None:
        """Wait until everything queued so far is written."""
        await self._idle.wait()

    async def close(self) -> None:
        """Flush, then stop the writer thread."""
        await self.flush()
        self._task.cancel()
        self._pool.shutdown(wait=True)


def _write_temp(path, data: bytes, staged: list) -> tuple:
    """Write `data` to a new temp file next to `path` (not yet synced); return (its open fd,
    its name). On failure close the fds already `staged` in this batch too."""
    tmp = temp_path(path)
    fd = None
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except BaseException:
        for other in [fd] + [f for f, _, _ in staged]:
            if other is not None:
                os.close(other)
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
