"""Owns writing a file atomically: a temp file beside it, then a rename over the final name.

A reader (or a crash) sees the old file or the new one, never a torn one. Temp names start
with a dot and end with `TEMP_SUFFIX`, so leftovers of a killed writer are recognisable.
"""
from __future__ import annotations

import itertools
import os
import threading

# Suffix of every temp file written here (a leftover one can be removed on restart).
TEMP_SUFFIX = ".part"
# Numbers that keep temp names unique within this process.
_SEQ = itertools.count()


def temp_path(path) -> str:
    """A fresh temp file name beside `path` (same directory, so the rename is atomic)."""
    path = os.fspath(path)
    head, name = os.path.split(path)
    unique = f"{os.getpid()}.{threading.get_ident()}.{next(_SEQ)}"
    return os.path.join(head, f".{name}.{unique}{TEMP_SUFFIX}")


def atomic_write(path, data, durable: bool = False) -> None:
    """Write `data` to `path` atomically.

    Parameters
    ----------
    path : str or PathLike
        The final name (its directory must exist).
    data : bytes, str or list of bytes
        The content (a str is written as UTF-8; a list is written part by part, without
        joining a copy of large arrays).
    durable : bool
        fsync the file and its directory, so the new content survives a power loss.
    """
    if isinstance(data, str):
        data = data.encode()
    parts = [data] if isinstance(data, (bytes, bytearray, memoryview)) else data
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as fh:
            fh.writelines(parts)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        fsync_dir(os.path.dirname(os.path.abspath(path)))


def fsync_dir(path) -> None:
    """fsync a directory, so a rename into it is durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
