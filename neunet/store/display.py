"""Owns how a run directory's reader (`Run`) shows itself: a one-line ``repr`` for terminals and
an HTML summary for notebooks (counts by state, the parameters that vary, failures, first rows).
"""
from __future__ import annotations

import html

# Rows of the table shown by a Run in a notebook.
HTML_ROWS = 5
# Failure groups shown by a Run in a notebook.
HTML_FAILURES = 5
# Varying parameters named in a Run's one-line repr.
REPR_PARAMS = 4
# Largest run whose one-line repr names the varying parameters (reading them takes a while).
REPR_MAX_TASKS = 20_000


def _counts_text(counts: dict) -> str:
    order = ("finished", "failed", "simulating", "filtering", "pulling", "assigned",
             "not-assigned")
    parts = [f"{counts[s]} {s}" for s in order if counts.get(s)]
    return ", ".join(parts) or "no tasks"


def _varying(run) -> list:
    """(name, description) of each parameter that varies, from `table(varying=True)`."""
    try:
        df = run.table(varying=True)
    except Exception:  # a repr must not raise: an unreadable index shows as such
        return []
    from neunet.store.schema import TABLE_COLUMNS
    stats = set(run_stats(run))
    out = []
    for col in df.columns:
        if col in TABLE_COLUMNS or col in stats:
            continue
        values = df[col].dropna()
        uniq = values.unique()
        if len(uniq) and values.dtype.kind in "if":
            text = f"{values.min():g}..{values.max():g} ({len(uniq)} values)"
        else:
            text = ", ".join(map(str, uniq[:4])) + (" ..." if len(uniq) > 4 else "")
        out.append((col, text))
    return out


def run_stats(run) -> list:
    """Names of the run's summary statistics (from its index columns)."""
    from neunet.store.schema import STAT_PREFIX
    db = run._connect()
    try:
        return [r[1][len(STAT_PREFIX):] for r in db.execute("PRAGMA table_info(tasks)")
                if r[1].startswith(STAT_PREFIX)]
    finally:
        db.close()


def run_repr(run) -> str:
    """``<Run 'runs/demo': 200 tasks (198 finished, 2 failed); varying pr, ps>``."""
    try:
        counts = run.counts()
    except Exception as err:  # a repr must not raise
        return f"<Run {str(run.run_dir)!r}: unreadable ({err})>"
    names = [name for name, _ in _varying(run)] if sum(counts.values()) <= REPR_MAX_TASKS else []
    vary = (f"; varying {', '.join(names[:REPR_PARAMS])}"
            + (" ..." if len(names) > REPR_PARAMS else "")) if names else ""
    total = sum(counts.values())
    return f"<Run {str(run.run_dir)!r}: {total} tasks ({_counts_text(counts)}){vary}>"


def run_html(run) -> str:
    """A notebook summary: the run directory, counts by state, the parameters that vary
    (with their ranges), the largest failure groups and the first rows of
    ``table(varying=True)``."""
    esc = html.escape
    try:
        counts = run.counts()
        table = run.table(varying=True)
    except Exception as err:
        return (f"<p><b>Run</b> <code>{esc(str(run.run_dir))}</code>: unreadable "
                f"({esc(str(err))})</p>")
    parts = [f"<p><b>Run</b> <code>{esc(str(run.run_dir))}</code>: {sum(counts.values())} "
             f"tasks ({esc(_counts_text(counts))})</p>"]
    varying = _varying(run)
    if varying:
        items = "".join(f"<li><code>{esc(n)}</code>: {esc(t)}</li>" for n, t in varying)
        parts.append(f"<p>Parameters that vary:</p><ul>{items}</ul>")
    failures = run.failures() if counts.get("failed") else None
    if failures is not None and len(failures):
        rows = "".join(f"<tr><td>{r['count']}</td><td>{esc(str(r['failure_class']))}</td>"
                       f"<td>{esc(str(r['reason'])[:200])}</td></tr>"
                       for _, r in failures.head(HTML_FAILURES).iterrows())
        parts.append("<p>Failures:</p><table><tr><th>tasks</th><th>class</th><th>reason</th>"
                     f"</tr>{rows}</table>")
    if len(table):
        parts.append("<p>First rows of <code>table(varying=True)</code>:</p>"
                     + table.head(HTML_ROWS).to_html(index=False, max_cols=20))
    return "<div class='neunet-run'>" + "".join(parts) + "</div>"
