"""A task's data file: the .npz archive (written directly, without zipfile) and its checks.

`npz_parts` lays an uncompressed numpy .npz out as a list of buffers that point at the
arrays' own memory (no joined copy: a worker writes or sends them in order);
`encode_arrays` joins them, `decode_arrays` reads an archive back with numpy (no pickle) and
`ends_like_npz` is the cheap completeness check the journal makes before trusting a file.
`StoreError` and `NoDataError` (`neunet.store.errors`) are re-exported here and by
`neunet.store`.
"""
from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
from numpy.lib import format as npy_format

from neunet.store.errors import NoDataError, StoreError

__all__ = ["NoDataError", "StoreError", "decode_arrays", "encode_arrays", "ends_like_npz",
           "npz_parts"]

# Bytes of a zip end-of-central-directory record without a comment (the end of an .npz).
_EOCD_BYTES = 22
# zip records written by `npz_parts` (local header, central directory entry, end record).
_ZIP_LOCAL = struct.Struct("<IHHHHHIIIHH")
_ZIP_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_ZIP_END = struct.Struct("<IHHHHIIH")
# DOS time and date fields of every member (1980-01-01 00:00, as numpy's savez writes).
_ZIP_DOS_DATE = (1 << 5) | 1
# Kept data at least this large is written by numpy's zip64-capable savez (bytes).
_ZIP32_LIMIT = 0xFFFF0000
# .npy headers by (dtype, shape), and how many are kept before the memo starts over.
_HEADERS: dict = {}
_HEADERS_MAX = 512


def encode_arrays(kept: dict) -> bytes:
    """Encode kept arrays as the bytes of an .npz file (what `load` reads back).

    Parameters
    ----------
    kept : dict
        Name -> array (numeric dtypes only; object arrays are refused: no pickle).

    Returns
    -------
    bytes
        An uncompressed numpy .npz archive.
    """
    return b"".join(npz_parts(kept))


def npz_parts(kept: dict) -> list:
    """The bytes of `encode_arrays(kept)` as a list of buffers (the arrays' own memory, not
    copied: write them in order, e.g. with ``writelines``)."""
    arrays = {}
    for name, value in kept.items():
        arr = np.asarray(value)
        if arr.dtype.hasobject:
            raise StoreError(f"kept array {name!r} has dtype object; only numeric data is stored")
        arrays[str(name)] = arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)
    total = sum(a.nbytes for a in arrays.values())
    if total >= _ZIP32_LIMIT or len(arrays) >= 0xFFFF:  # needs zip64: numpy's writer
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return [buf.getvalue()]
    parts, central, offset = [], [], 0
    for name, arr in arrays.items():
        head, data = _npy_header(arr), arr.reshape(-1).view(np.uint8).data
        crc, size, fname = zlib.crc32(data, zlib.crc32(head)), len(head) + arr.nbytes, \
            f"{name}.npy".encode()
        fields = (0, 0, 0, _ZIP_DOS_DATE, crc, size, size, len(fname))
        parts += [_ZIP_LOCAL.pack(0x04034B50, 20, *fields, 0), fname, head, data]
        central.append(_ZIP_CENTRAL.pack(0x02014B50, 20, 20, *fields, 0, 0, 0, 0,
                                         0o600 << 16, offset) + fname)
        offset += _ZIP_LOCAL.size + len(fname) + size
    directory = b"".join(central)
    end = _ZIP_END.pack(0x06054B50, 0, 0, len(central), len(central), len(directory), offset, 0)
    return parts + [directory, end]


def _npy_header(arr: np.ndarray) -> bytes:
    """The .npy header of a C-contiguous array (numpy's format 1.0), memoized by dtype and
    shape: a sweep of tiny tasks writes the same few headers over and over."""
    key = (arr.dtype, arr.shape)
    head = _HEADERS.get(key)
    if head is None:
        buf = io.BytesIO()
        npy_format.write_array_header_1_0(buf, npy_format.header_data_from_array_1_0(arr))
        head = buf.getvalue()
        if len(_HEADERS) >= _HEADERS_MAX:
            _HEADERS.clear()
        _HEADERS[key] = head
    return head


def decode_arrays(data) -> dict:
    """Decode .npz bytes or a path written by `encode_arrays` into a dict of arrays."""
    source = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    with np.load(source, allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def ends_like_npz(data_or_path) -> bool:
    """Cheap check of .npz bytes or a data file: it ends with a zip end-of-central-directory
    record without a comment (as `encode_arrays` writes it): truncated or foreign data does
    not."""
    if isinstance(data_or_path, (bytes, bytearray, memoryview)):
        tail = bytes(data_or_path[-_EOCD_BYTES:])
    else:
        try:
            with open(data_or_path, "rb") as fh:
                fh.seek(-_EOCD_BYTES, os.SEEK_END)
                tail = fh.read(_EOCD_BYTES)
        except OSError:
            return False
    return len(tail) == _EOCD_BYTES and tail[:4] == b"PK\x05\x06" and tail[-2:] == b"\x00\x00"
