"""The run index file itself: created whole (never seen half made), and checked before use.

`create_index` builds ``index.sqlite`` under a temp name (WAL mode, every table) and renames
it into place, so a reader that sees the file also sees its tables. `check_index` refuses,
with one line that says what to do, an index that is empty (0 bytes: SQLite would take it
for a new database and the sweep would run every task again), is not SQLite, is damaged, has
no `tasks` table, or is missing beside data files of results.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from neunet.atomic import fsync_dir, temp_path
from neunet.store.npz import StoreError
from neunet.store.schema import BUSY_TIMEOUT_S, DATA_DIR, INDEX_NAME, SCHEMA

# The first bytes of every SQLite database file.
SQLITE_MAGIC = b"SQLite format 3\x00"
# What a user can do about a damaged index (the end of its error message).
_ADVICE = "restore it from a backup, or move the run directory aside to start afresh"


class CorruptIndexError(StoreError):
    """The run index exists but cannot be trusted (empty, not SQLite, damaged)."""


def create_index(index: Path) -> None:
    """Create a complete, empty run index at `index` atomically (durable when it returns)."""
    tmp = temp_path(index)
    try:
        db = sqlite3.connect(tmp, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
        finally:
            db.close()  # the last connection: the WAL is checkpointed into the file
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, index)
    finally:
        for leftover in (tmp, tmp + "-wal", tmp + "-shm"):
            try:
                os.unlink(leftover)
            except FileNotFoundError:
                pass
    fsync_dir(index.parent)


def check_index(run_dir: Path, must_exist: bool) -> bool:
    """Whether `run_dir` has a run index; `CorruptIndexError` if it has one that cannot be
    used, or none beside results (`must_exist`: none at all is an error too)."""
    index = run_dir / INDEX_NAME
    try:
        with open(index, "rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        if must_exist:
            raise StoreError(f"{run_dir} is not a run directory (no {INDEX_NAME})") from None
        if any((run_dir / DATA_DIR).glob("*.npz")):
            raise CorruptIndexError(f"{run_dir} holds results in {DATA_DIR}/ but no "
                                    f"{INDEX_NAME}: {_ADVICE}") from None
        return False
    except OSError as exc:
        raise StoreError(f"cannot read {index}: {exc.strerror}") from None
    if not head:
        raise CorruptIndexError(f"run index {index} is empty (0 bytes): {_ADVICE}")
    if head != SQLITE_MAGIC:
        raise CorruptIndexError(f"run index {index} is not an SQLite database: {_ADVICE}")
    return True


def verify(db: sqlite3.Connection, index: Path) -> None:
    """Check that an open index has its `tasks` table and reads back (`CorruptIndexError`)."""
    try:
        db.execute("SELECT seq, tid, status FROM tasks ORDER BY seq DESC LIMIT 1").fetchall()
        db.execute("SELECT COUNT(*) FROM tasks").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc) or "no such column" in str(exc):
            raise CorruptIndexError(f"{index} is not a run index ({exc})") from None
        raise StoreError(f"cannot read {index}: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise CorruptIndexError(f"run index {index} is damaged ({exc}): {_ADVICE}") from None


def connect_writer(index: Path) -> sqlite3.Connection:
    """The writer's connection to an existing index (WAL, synchronous=FULL), verified."""
    try:
        db = sqlite3.connect(index, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                             check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {index}: {exc}") from None
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        verify(db, index)
        db.executescript(SCHEMA)  # tables added by later versions
    except sqlite3.DatabaseError as exc:
        db.close()
        raise CorruptIndexError(f"run index {index} is damaged ({exc}): {_ADVICE}") from None
    except StoreError:
        db.close()
        raise
    return db
