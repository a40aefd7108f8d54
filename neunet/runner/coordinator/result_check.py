"""Owns the rules a result must meet before it goes near the store: its ``result`` header checked.

A worker announces a result with a header (summary, measured seconds, size). The coordinator
checks it before it takes any data (`problem`): summary names are short strings and its
values numbers or null (a string once made a whole journal batch fail and its honest results
vanish), the size is within ``--max-result-mb`` (nothing is reserved on the word of an
announcement either), and the seconds are finite and bounded (one 1e308 made the time scale
infinite).
A result that breaks a rule fails that run of its task (class ``invalid``), never anything
else.
"""
from __future__ import annotations

import math

# Most summary statistics in one result.
MAX_SUMMARY_KEYS = 1000
# Longest summary statistic name (characters).
MAX_NAME_CHARS = 200
# Largest measured run time accepted (seconds: 1000 days).
MAX_REAL_S = 1000 * 86400.0


def problem(msg: dict, max_result_bytes: int) -> str | None:
    """What is wrong with a ``result`` header (the message after `frames.validate`), or None.

    Parameters
    ----------
    msg : dict
        The header: tid, summary, real_s, size, optional spooled / hash.
    max_result_bytes : int
        The largest result accepted (``--max-result-mb``).
    """
    summary = msg["summary"]
    if len(summary) > MAX_SUMMARY_KEYS:
        return f"{len(summary)} summary statistics (at most {MAX_SUMMARY_KEYS})"
    for name, value in summary.items():
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_CHARS:
            return f"summary name {str(name)[:40]!r} is not a name of 1-{MAX_NAME_CHARS} chars"
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"summary value of {name!r} is a {type(value).__name__}, not a number"
        if isinstance(value, int) and abs(value) >= 2 ** 63:
            return f"summary value of {name!r} is an integer beyond 64 bits"
    real_s = msg["real_s"]
    if not math.isfinite(real_s) or not 0 <= real_s <= MAX_REAL_S:
        return f"its run time {real_s!r} s is not a duration (0 to {MAX_REAL_S:.0f} s)"
    size = msg["size"]
    if size < 0:
        return f"its size {size} is negative"
    if size > max_result_bytes:
        return (f"its {size / 1e6:.1f} MB exceed --max-result-mb "
                f"({max_result_bytes / 1e6:.1f} MB)")
    return None
