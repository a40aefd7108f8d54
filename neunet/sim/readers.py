"""gen_neu input files: net, event and initial-state readers, the file event source (spec 3).

Readers raise ``SimInputError`` with the file (and line) at fault; well-formed files take
numpy's C parser, anything unusual the line-by-line path that names the offending line.
`FileEventSource` serves --input-event-path events to the engine chunk by chunk.
"""
from __future__ import annotations

import io as _stdio
import os
import re
import warnings

import numpy as np

from neunet.sim.io import output_order
from neunet.sim.options import SimInputError


def _read_text(path, what, binary=False):
    try:
        with (open(path, "rb") if binary else
              open(path, encoding="utf-8", errors="replace")) as f:
            return f.read()
    except OSError as e:
        raise SimInputError(f"cannot read {what} {path}: {e.strerror}") from None


def _rows(path, what, lines, first_lineno, min_fields, max_fields):
    """Split lines into fields; every line must have min..max fields (errors name the line)."""
    rows = [line.split() for line in lines]
    for k, row in enumerate(rows):
        if not row or row[0][0] in "#%":
            kind = "blank line" if not row else "comment line"
            raise SimInputError(f"{what} {path}:{first_lineno + k}: {kind} (not allowed; "
                                "one 'id time [strength]' per line)")
        if not min_fields <= len(row) <= max_fields:
            want = (f"{min_fields}" if min_fields == max_fields
                    else f"{min_fields} to {max_fields}")
            raise SimInputError(f"{what} {path}:{first_lineno + k}: expected {want} fields, "
                                f"got {lines[k].strip()!r}")
    return rows


def _column(path, what, rows, col, linenos, kind):
    """Column `col` of `rows` as int64 or float64; a bad entry names its line (linenos[k])."""
    try:
        return np.array([r[col] for r in rows], dtype=kind)
    except ValueError:
        for k, r in enumerate(rows):
            try:
                float(r[col]) if kind is np.float64 else int(r[col], 10)
            except ValueError:
                raise SimInputError(f"{what} {path}:{linenos[k]}: bad number "
                                    f"{r[col]!r}") from None
        raise


def _edges_to_csr(n, post, pre, w):
    """CSR by presynaptic neuron, dropping the diagonal, zero and non-finite weights."""
    keep = (post != pre) & np.isfinite(w) & (w != 0)
    post, pre, w = post[keep], pre[keep], w[keep]
    order = np.lexsort((post, pre))
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(pre, minlength=n), out=ptr[1:])
    return ptr, post[order].astype(np.int64), w[order].astype(np.float64)


def _read_numbers(path, what) -> np.ndarray:
    """All whitespace-separated numbers of a text file; names the first bad token."""
    text = _read_text(path, what)
    try:
        return np.array(text.split(), dtype=np.float64)
    except ValueError:
        bad = next(t for t in text.split() if not _is_float(t))
        raise SimInputError(f"{what} {path}: bad number {bad!r}") from None


def _read_full_matrix(path, n):
    a = _read_numbers(path, "network file")
    if a.size != n * n:
        raise SimInputError(f"network file {path} has {a.size} numbers, expected n*n = "
                            f"{n * n} for n = {n} neurons (use --sparse-net for 'i j a' "
                            "lines)")
    post, pre = np.nonzero(a.reshape(n, n))
    return _edges_to_csr(n, post, pre, a.reshape(n, n)[post, pre])


def _is_float(tok):
    try:
        float(tok)
        return True
    except ValueError:
        return False


def _fast_table(text, skip_rows, n_cols, int_cols):
    """All rows as float (rows, n_cols) through numpy's C parser, or None when anything is
    unusual (ragged rows, bad numbers, non-integral ids); callers then take the slow path
    that names the offending line."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # "input contained no data"
            a = np.loadtxt(_stdio.StringIO(text), dtype=np.float64, comments=None,
                           skiprows=skip_rows, ndmin=2)
    except ValueError:
        return None
    if a.size == 0:
        return None
    if a.shape[1] != n_cols or not np.all(a[:, :int_cols] == np.floor(a[:, :int_cols])):
        return None
    return a


def _read_sparse(path, n):
    what = "sparse network file"
    fast = _plain_sparse(_read_text(path, "network file", binary=True), n)
    if fast is not None:
        return _sum_sparse(n, *fast)
    text = _read_text(path, "network file")
    lines = text.splitlines()
    start = 1 if lines and lines[0].lstrip()[:1] in ("#", "%") else 0
    a = _fast_table(text, start, 3, 2)
    if a is not None and np.all((a[:, :2] >= 1) & (a[:, :2] <= n)):
        return _sum_sparse(n, a[:, 0].astype(np.int64) - 1, a[:, 1].astype(np.int64) - 1,
                           a[:, 2])
    linenos, rows = [], []
    for k in range(start, len(lines)):
        row = lines[k].split()
        if not row:
            continue
        if len(row) != 3:
            raise SimInputError(f"{what} {path}:{k + 1}: expected 'i j a', got "
                                f"{lines[k].strip()!r}")
        linenos.append(k + 1)
        rows.append(row)
    post = _column(path, what, rows, 0, linenos, np.int64)
    pre = _column(path, what, rows, 1, linenos, np.int64)
    w = _column(path, what, rows, 2, linenos, np.float64)
    for idx in (post, pre):
        bad = np.flatnonzero((idx < 1) | (idx > n))
        if bad.size:
            raise SimInputError(f"{what} {path}:{linenos[bad[0]]}: neuron index "
                                f"{idx[bad[0]]} outside 1..{n}")
    return _sum_sparse(n, post - 1, pre - 1, w)


# Bytes of a plain sparse net file body: digits, signs, '.', exponents, space, tab, CR, LF.
_PLAIN_BYTES = np.zeros(256, bool)
_PLAIN_BYTES[np.frombuffer(b"0123456789+-.eE \t\r\n", np.uint8)] = True
# Integers up to this magnitude are exact doubles (larger weights take the float parse).
_EXACT_INT = 2**53


def _plain_sparse(data, n):
    """(post, pre, w) 0-based of a sparse net file's bytes when it is plain (an optional
    '#'/'%' header line, then lines of three numbers or blank, ids integral in 1..n), parsed
    by numpy's fromstring (~20x faster than loadtxt); else None, and the caller takes the
    path that names any offending line."""
    head, nl, rest = data.partition(b"\n")
    header = head.lstrip()[:1] in (b"#", b"%")
    if header and len(head.decode("utf-8", "replace").splitlines()) != 1:
        return None                   # line breaks the text reader would see differently
    body = rest if header else data
    u = np.frombuffer(body, np.uint8)
    if not u.size or not _PLAIN_BYTES[u].all() or body.count(b"\r") != body.count(b"\r\n"):
        return None
    per_line = _tokens_per_line(u)
    if not np.all((per_line == 0) | (per_line == 3)):
        return None
    a = _parse_numbers(body, 3 * np.count_nonzero(per_line))
    if a is None:
        return None
    a = a.reshape(-1, 3)
    ids = a[:, :2]
    if not np.all((ids >= 1) & (ids <= n) & (ids == np.floor(ids))):
        return None
    return ids[:, 0].astype(np.int64) - 1, ids[:, 1].astype(np.int64) - 1, a[:, 2].astype(
        np.float64)


def _tokens_per_line(u):
    """Whitespace-separated tokens on each line of the bytes u (a final line without a
    newline included)."""
    space = u <= 32
    mark = np.empty(u.size, bool)        # token starts and newlines
    mark[0] = not space[0]
    np.less(space[1:], space[:-1], out=mark[1:])
    mark |= u == 10
    pos = np.flatnonzero(mark)
    newlines = np.flatnonzero(u[pos] == 10)
    return np.diff(newlines, prepend=-1, append=pos.size) - 1


def _parse_numbers(body, count):
    """The `count` whitespace-separated numbers of body: int64 when they all are unsigned
    integers of exact double value (numpy's integer parse reads a lone sign as 0), else
    float64; None unless exactly `count` parse."""
    try:
        if not any(c in body for c in (b".", b"e", b"E", b"+", b"-")):
            a = np.fromstring(body, np.int64, sep=" ")
            if a.size == count and np.all(a < _EXACT_INT):
                return a
        a = np.fromstring(body, np.float64, sep=" ")
    except ValueError:                         # a token that is no number
        return None
    return a if a.size == count else None


def _sum_sparse(n, post, pre, w):
    """CSR of 0-based sparse entries, duplicated (i, j) pairs summed (in file order)."""
    order = _pre_post_order(n, post, pre)
    post, pre, w = post[order], pre[order], w[order]
    key = pre * n + post
    if np.any(key[1:] == key[:-1]):
        key, inverse = np.unique(key, return_inverse=True)
        w = np.bincount(inverse, weights=w)
        pre, post = key // n, key % n
    keep = (post != pre) & np.isfinite(w) & (w != 0)
    post, pre, w = post[keep], pre[keep], w[keep]
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(pre, minlength=n), out=ptr[1:])
    return ptr, post.astype(np.int64), w.astype(np.float64)


def _pre_post_order(n, post, pre):
    """Stable permutation putting edges in (pre, post) order: two radix sorts when the
    ids fit 16 bits."""
    if n <= 1 << 16:
        o = np.argsort(post.astype(np.uint16), kind="stable")
        return o[np.argsort(pre[o].astype(np.uint16), kind="stable")]
    return np.lexsort((post, pre))


def read_net(net: str, n: int, sparse: bool = False):
    """Read the --net option into CSR by presynaptic neuron (spec 3.1).

    Parameters
    ----------
    net : str
        ``"-"`` all-to-all, ``"--"`` ring, or a file path.
    n : int
        Number of neurons.
    sparse : bool
        The file holds ``i j a`` lines (1-based post i, pre j).

    Returns
    -------
    post_ptr, post_idx, post_w : ndarray
        int64 (n+1,), int64, float64: the post neurons of pre j are
        ``post_idx[post_ptr[j]:post_ptr[j+1]]`` with weights A[i][j].
    """
    if net == "-":
        pre, post = np.divmod(np.arange(n * n, dtype=np.int64), n)
        return _edges_to_csr(n, post, pre, np.ones(n * n))
    if net == "--":
        pre = np.arange(n, dtype=np.int64)
        return _edges_to_csr(n, (pre + 1) % n, pre, np.ones(n))
    if not os.path.isfile(net):
        raise SimInputError(f"network file {net} not found")
    return _read_sparse(net, n) if sparse else _read_full_matrix(net, n)


def read_initial_state(path: str, n: int, n_var: int) -> np.ndarray:
    """Read --initial-state-path: n_var numbers per neuron, neuron after neuron -> (n, n_var)."""
    a = _read_numbers(path, "initial state file")
    if a.size != n * n_var:
        raise SimInputError(f"initial state file {path} has {a.size} numbers, expected "
                            f"{n} neurons x {n_var} state variables = {n * n_var}")
    if not np.all(np.isfinite(a)):
        raise SimInputError(f"initial state file {path} holds a non-finite number")
    return a.reshape(n, n_var)


def read_events(path: str, n: int, default_strength) -> tuple:
    """Read --input-event-path lines ``id time [strength]`` (spec 3.3).

    Parameters
    ----------
    path : str
    n : int
        Number of neurons (ids must be 1..n).
    default_strength : array_like (n,)
        Strength of lines without one (the neuron's --ps).

    Returns
    -------
    ids, times, strengths : ndarray
        File order; ids 0-based.
    """
    text = _read_text(path, "event file")
    a = None if re.search(r"(?m)^[ \t\r]*$(?!\Z)", text) else _fast_table(text, 0, 3, 1)
    if a is not None:
        ids = a[:, 0].astype(np.int64)
        _check_events(path, n, ids, a[:, 1], a[:, 2])
        return ids - 1, a[:, 1].copy(), a[:, 2].copy()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line.rstrip("\r") for line in lines]
    rows = _rows(path, "event file", lines, 1, 2, 3)
    linenos = range(1, len(rows) + 1)
    ids = _column(path, "event file", rows, 0, linenos, np.int64)
    times = _column(path, "event file", rows, 1, linenos, np.float64)
    strengths = np.asarray(default_strength, dtype=np.float64)[np.clip(ids - 1, 0, n - 1)]
    idx = np.flatnonzero([len(r) == 3 for r in rows])
    if idx.size:
        strengths[idx] = _column(path, "event file", [rows[k] for k in idx], 2, idx + 1,
                                 np.float64)
    _check_events(path, n, ids, times, strengths)
    return ids - 1, times, strengths


def _check_events(path, n, ids, times, strengths):
    bad = np.flatnonzero((ids < 1) | (ids > n))
    if bad.size:
        raise SimInputError(f"event file {path}:{bad[0] + 1}: neuron id {ids[bad[0]]} "
                            f"outside 1..{n}")
    bad = np.flatnonzero(~np.isfinite(times) | ~np.isfinite(strengths))
    if bad.size:
        raise SimInputError(f"event file {path}:{bad[0] + 1}: time and strength must be "
                            "finite")
    order = np.argsort(ids, kind="stable")
    same = ids[order][1:] == ids[order][:-1]
    back = np.flatnonzero(same & (times[order][1:] < times[order][:-1]))
    if back.size:
        k = order[back[0] + 1]
        raise SimInputError(f"event file {path}:{k + 1}: events of neuron {ids[k]} are not "
                            f"in time order ({times[k]!r} after {times[order[back[0]]]!r})")


class FileEventSource:
    """EventSource of --input-event-path events (see engine.EventSource).

    Parameters
    ----------
    n : int
    ids, times, strengths : ndarray
        Events (ids 0-based), each neuron's in time order.
    on_events : callable or None
        ``on_events(ids, times, strengths)`` with each chunk's events in output order.
    """

    def __init__(self, n, ids, times, strengths, on_events=None):
        self.n = n
        self.count = int(ids.size)                 # events in the file (--verbose-echo)
        order = np.argsort(times, kind="stable")   # keeps each neuron's file order
        self._ids, self._times = ids[order], times[order]
        self._strengths = strengths[order]
        self._next = 0
        self._on_events = on_events

    def take(self, t_ends):
        """Not yet consumed events with time < t_ends[-1], as CSR (ptr, times, strengths)."""
        stop = int(np.searchsorted(self._times, t_ends[-1], side="left"))
        sl = slice(self._next, max(stop, self._next))
        self._next = sl.stop
        ids, times, strengths = self._ids[sl], self._times[sl], self._strengths[sl]
        if self._on_events is not None:
            o = output_order(np.asarray(t_ends), ids, times)
            self._on_events(ids[o], times[o], strengths[o])
        order = np.argsort(ids, kind="stable")
        ptr = np.zeros(self.n + 1, np.int64)
        np.cumsum(np.bincount(ids, minlength=self.n), out=ptr[1:])
        return ptr, times[order], strengths[order]
