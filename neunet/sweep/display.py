"""Owns how a list of sweep tasks shows itself: `TaskList`, a list with a useful ``repr`` (size,
the parameters that vary, the estimated time) and an HTML table for notebooks.
"""
from __future__ import annotations

import html

# Tasks looked at to find the varying parameters of a long list (spread over the list).
SAMPLE = 5000
# Rows of the HTML table of a task list.
HTML_ROWS = 8
# Parameters derived per task, left out of "varying" (each task has its own).
PER_TASK = ("seed",)


def _text(value) -> str:
    if hasattr(value, "shape") and getattr(value, "size", 0) > 8:
        return f"array{tuple(value.shape)}"
    return str(value.tolist() if hasattr(value, "tolist") else value)


def varying(tasks) -> dict:
    """Parameter name -> sorted distinct values (as text) of the parameters that differ
    between tasks (of a sample of `SAMPLE` tasks spread over a longer list)."""
    step = max(1, len(tasks) // SAMPLE)
    seen: dict = {}
    for task in tasks[::step]:
        pm = task.pm if hasattr(task, "pm") else task
        for key, value in pm.items():
            seen.setdefault(key, set()).add(_text(value))
    return {k: sorted(v, key=_order) for k, v in seen.items()
            if len(v) > 1 and k not in PER_TASK}


def _order(text: str):
    try:
        return (0, float(text), "")
    except ValueError:
        return (1, 0.0, text)


def _describe(values: list) -> str:
    if len(values) > 4:
        return f"{values[0]}..{values[-1]} ({len(values)} values)"
    return ", ".join(values)


def estimated_s(tasks) -> float | None:
    """Sum of the tasks' time_cost estimates in seconds (None when none has one)."""
    times = [t.time[1] for t in tasks if getattr(t, "time", None) and len(t.time) > 1
             and t.time[1] is not None]
    return float(sum(times)) if times else None


class TaskList(list):
    """The tasks of a sweep: a plain list that also says what it holds."""

    def __repr__(self):
        if not self:
            return "TaskList([])"
        parts = [f"{k} {_describe(v)}" for k, v in varying(self).items()]
        est = estimated_s(self)
        text = f"TaskList of {len(self)} tasks"
        text += f"; varying {', '.join(parts)}" if parts else "; no parameter varies"
        return text + (f"; estimated {est:.3g} s of simulation" if est is not None else "")

    def _repr_html_(self):
        esc = html.escape
        vary = varying(self)
        head = f"<p><b>TaskList</b> of {len(self)} tasks"
        est = estimated_s(self)
        head += f", estimated {est:.3g} s of simulation</p>" if est is not None else "</p>"
        cols = list(vary)[:10]
        rows = []
        for task in self[:HTML_ROWS]:
            pm = task.pm if hasattr(task, "pm") else task
            cells = "".join(f"<td>{esc(_text(pm.get(c)))}</td>" for c in cols)
            rows.append(f"<tr><td><code>{esc(str(getattr(task, 'tid', '')))[:12]}</code></td>"
                        f"{cells}</tr>")
        more = (f"<tr><td colspan='{len(cols) + 1}'>... {len(self) - HTML_ROWS} more</td></tr>"
                if len(self) > HTML_ROWS else "")
        header = "".join(f"<th>{esc(c)}</th>" for c in cols)
        return (f"<div class='neunet-tasks'>{head}<table><tr><th>tid</th>{header}</tr>"
                f"{''.join(rows)}{more}</table></div>")
