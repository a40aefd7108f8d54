"""Owns the run directory's errors, in a module light enough for any process to import early.

`StoreError` (a run directory that cannot be opened or read, or a bad request to it) and
`NoDataError` (a task without kept data); `neunet.store.npz` and the package re-export them.
"""
from __future__ import annotations


class StoreError(Exception):
    """A run directory that cannot be opened or read, or a bad request to it."""


class NoDataError(StoreError, LookupError):
    """The task exists but has no kept bulk data (filtered out, failed or not finished)."""
