"""Queries: the safe expression language of `neunet.analysis.expr`, vectorised over table columns.

`select(expr, columns, n_rows)` parses a query with `parse_predicate` (the smart filter's
language: nothing reaches Python's or pandas' ``eval``) and evaluates its tree once per
operator over whole columns with numpy, returning the boolean mask of the matching rows.
Column names that are not identifiers can be written in backticks (`` `neuron-model` ``).

Semantics follow `neunet.analysis.expr.evaluate`, row by row, with these column rules:
arithmetic is done in float64 (bounded: overflow gives ``inf``; a division or remainder by
zero gives ``nan``), a comparison with ``nan`` is false, a missing value (None) equals only
None and orders with nothing, and ordering text against numbers is an error when no row at
all can be compared (a typo such as ``neuron_model > 3``), else false for the rows that cannot.
"""
from __future__ import annotations

import keyword
import re

import numpy as np

from neunet.analysis.expr import _FUNCS, FilterError, alias, bounded, parse_predicate, suggest

# A backtick-quoted column name inside a query.
_BACKTICKED = re.compile(r"`([^`]*)`")
# dtype kinds computed on directly (bool, ints, floats).
_NUMERIC_KINDS = "biuf"
# Python types of a numeric cell or constant.
_NUMBER_TYPES = (bool, int, float, np.bool_, np.integer, np.floating)


def unquote(expr: str) -> tuple[str, dict]:
    """Replace each `` `name` `` by an identifier of the same width; (text, identifier -> name)."""
    names: dict = {}

    def swap(match):
        name = match.group(1)
        ident = alias(name)
        if not ident.isidentifier() or keyword.iskeyword(ident) or (
                ident in names and names[ident] != name):
            ident = f"_q{len(names)}"
        names[ident] = name
        return " " + ident.ljust(len(name)) + " "
    return _BACKTICKED.sub(swap, expr), names


def select(expr: str, columns, n_rows: int) -> np.ndarray:
    """The rows of a table matching a query.

    Parameters
    ----------
    expr : str
        The query, in the language of `neunet.analysis.expr` (names are column names).
    columns : Mapping
        Column name -> array-like of `n_rows` values (converted with ``np.asarray`` on use).
    n_rows : int
        Number of rows.

    Returns
    -------
    numpy.ndarray
        Boolean mask of `n_rows`.

    Raises
    ------
    FilterError
        For an invalid query (with its column) or one that cannot be evaluated.
    """
    text, quoted = unquote(expr)
    tree = parse_predicate(text, label="query")
    lookup = _Lookup(columns, quoted, n_rows)
    with np.errstate(all="ignore"):
        value = _eval(tree, lookup)
    mask = _truth(value)
    return np.broadcast_to(mask, (n_rows,)).copy() if np.ndim(mask) == 0 else mask


class _Lookup:
    """Column values by name (with backtick-quoted names), converted once."""

    def __init__(self, columns, quoted: dict, n_rows: int):
        self.columns, self.quoted, self.n_rows = columns, quoted, n_rows
        self._cache: dict = {}

    def __call__(self, name: str):
        if name not in self._cache:
            key = self.quoted.get(name, name)
            if key not in self.columns:
                raise FilterError(f"unknown name {key!r} in query{suggest(key, self.columns)}")
            self._cache[name] = np.asarray(self.columns[key])
        return self._cache[name]


def _eval(tree, lookup):
    op = tree[0]
    if op == "const":
        return tree[1]
    if op == "name":
        return lookup(tree[1])
    if op in ("and", "or"):
        parts = [_truth(_eval(t, lookup)) for t in tree[1:]]
        return (np.logical_and if op == "and" else np.logical_or).reduce(
            np.broadcast_arrays(*parts))
    if op == "not":
        return np.logical_not(_truth(_eval(tree[1], lookup)))
    if op in ("neg", "pos"):
        value = _numeric(_eval(tree[1], lookup), f"unary {op}")
        return -value if op == "neg" else value
    if op == "bin":
        return _binary(tree[1], _eval(tree[2], lookup), _eval(tree[3], lookup))
    if op == "cmp":
        values = [_eval(t, lookup) for t in tree[2:]]
        mask = True
        for tok, left, right in zip(tree[1], values, values[1:]):
            mask = np.logical_and(mask, _compare(tok, left, right))
        return mask
    raise FilterError(f"corrupt query tree node {op!r}")


def _truth(value):
    """Truth of each value (Python's: nan is true, None and '' are false)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in _NUMERIC_KINDS:
            return value.astype(bool)
        return np.fromiter((bool(v) for v in value), bool, len(value))
    return bool(value)


def _numeric(value, what):
    """A value as float64 (array or scalar); text is an error."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in _NUMERIC_KINDS:
            return value.astype(np.float64)
        out = np.full(len(value), np.nan)
        for i, cell in enumerate(value):
            if isinstance(cell, _NUMBER_TYPES):
                out[i] = float(bounded(cell) if type(cell) is int else cell)
            elif cell is not None:
                raise FilterError(f"{what} needs numbers, got {cell!r:.60}")
        return out
    if isinstance(value, _NUMBER_TYPES):
        return np.float64(bounded(value) if type(value) is int else value)
    raise FilterError(f"{what} needs numbers, got {value!r:.60}")


def _binary(tok, left, right):
    left, right = _numeric(left, f"'{tok}'"), _numeric(right, f"'{tok}'")
    out = _FUNCS[tok](left, right)
    if tok in ("/", "//", "%"):  # as the row-wise language: x / 0 is nan
        out = np.where(right == 0, np.nan, out)
    return out


def _is_numeric(value) -> bool:
    if isinstance(value, np.ndarray):
        return value.dtype.kind in _NUMERIC_KINDS
    return isinstance(value, _NUMBER_TYPES)


def _compare(tok, left, right):
    """One comparison of columns and/or constants, elementwise."""
    if _is_numeric(left) and _is_numeric(right):
        return _FUNCS[tok](left, right)
    left_a, right_a = np.broadcast_arrays(np.asarray(left, dtype=object),
                                          np.asarray(right, dtype=object))
    fn, ordering = _FUNCS[tok], tok not in ("==", "!=")
    try:  # numpy's loop over the objects; a mix it cannot order goes cell by cell below
        return np.asarray(fn(left_a, right_a), dtype=bool)
    except TypeError:
        pass
    out = np.zeros(left_a.shape, dtype=bool)
    comparable = tried = 0
    for i, (a, b) in enumerate(zip(left_a.flat, right_a.flat)):
        if ordering:
            if a is None or b is None:
                continue
            tried += 1
            if isinstance(a, str) != isinstance(b, str):
                continue
        try:
            out.flat[i] = bool(fn(a, b))
            comparable += 1
        except TypeError:
            continue
    if ordering and tried and not comparable:
        raise FilterError(f"cannot order {_sample(left_a)} and {_sample(right_a)} with '{tok}'")
    return out


def _sample(values) -> str:
    """One non-missing value of `values`, for an error message."""
    for value in values.flat:
        if value is not None:
            return f"{value!r:.40}"
    return "None"
