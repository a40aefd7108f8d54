"""Owns the sweep's terminal output, shared by the coordinator, the Dask route and workers: one
status line that log lines never run into, its text, and the run's closing summary line.

On a terminal the status line is redrawn in place (``\\r`` and clear-to-end); a log record is
written on a cleared line and the status line is drawn again below it (`StatusLine.install`
puts a small stream proxy into the logging handlers that write to the same stream). Elsewhere
(a file, a pipe, a notebook) the line is written as a plain line every `LOG_PERIOD_S`.
"""
from __future__ import annotations

import logging
import sys
import time

# Seconds between redraws on a terminal, and between plain lines otherwise.
TTY_PERIOD_S, LOG_PERIOD_S = 0.5, 10.0
# Clears the terminal line the cursor is on.
_CLEAR = "\r\x1b[K"


def fmt_s(seconds: float | None) -> str:
    """Seconds as 12s, 3m05s or 1h02m ("-" for None)."""
    if seconds is None:
        return "-"
    seconds = round(max(0.0, seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def fmt_rate(rate: float | None) -> str:
    """Tasks per second with three significant digits ("-" before any)."""
    return "-" if not rate else f"{rate:.3g}"


def progress_text(counts: dict, elapsed_s: float, rate: float | None = None,
                  eta_s: float | None = None, workers: str | None = None) -> str:
    """The status line: done/total, failed, running, queued, [workers], elapsed, tasks/s and,
    only when given (some worker is there to do the rest), the ETA."""
    text = (f"done {counts['finished']}/{counts['total']}  failed {counts['failed']}  "
            f"running {counts['running']}  queued {counts['queued']}")
    if workers is not None:
        text += f"  workers {workers}"
    text += f"  elapsed {fmt_s(elapsed_s)}  {fmt_rate(rate)} tasks/s"
    return text + (f"  ETA {fmt_s(eta_s)}" if eta_s is not None else "")


def summary_text(counts: dict, wall_s: float, run_dir, interrupted: bool = False,
                 resume: str | None = None) -> str:
    """The closing line: finished, failed, wall time, tasks/s and where the results are (and,
    after ctrl-c, how to resume)."""
    done = counts["finished"]
    rate = done / wall_s if wall_s > 0 else 0.0
    left = counts["total"] - done - counts["failed"]
    head = "stopped" if interrupted and left > 0 else "sweep done"
    text = (f"{head}: {done} finished, {counts['failed']} failed of {counts['total']} in "
            f"{fmt_s(wall_s)} ({rate:.3g} tasks/s); results: open_run({str(run_dir)!r})")
    if interrupted and left > 0:
        text += f"; {left} left: {resume or 'run the same command again'} to resume"
    return text


class _Proxy:
    """A stream for logging handlers: clears the status line before a record, redraws it after."""

    def __init__(self, line: StatusLine):
        self.line = line

    def write(self, text: str) -> int:
        return self.line.print_above(text)

    def flush(self) -> None:
        self.line.stream.flush()


class StatusLine:
    """One status line (see the module docstring).

    Parameters
    ----------
    stream : file, optional
        Where it goes (default stderr).
    tty : bool, optional
        Redraw in place (default: whether `stream` is a terminal).
    """

    def __init__(self, stream=None, tty: bool | None = None):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)()) if tty is None else tty
        self.period_s = TTY_PERIOD_S if self.tty else LOG_PERIOD_S
        self.text = ""
        self._last_s = -float("inf")
        self._handlers: list = []

    def install(self, logger: logging.Logger | None = None) -> StatusLine:
        """Route the handlers of `logger` (default root) that write to our stream through
        `print_above`, so log records never run into the status line."""
        logger = logger or logging.getLogger()
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is self.stream:
                handler.setStream(_Proxy(self))
                self._handlers.append(handler)
        return self

    def uninstall(self) -> None:
        """Give the handlers their stream back."""
        for handler in self._handlers:
            handler.setStream(self.stream)
        self._handlers.clear()

    def due(self) -> bool:
        """Whether a period has passed since the line was last written."""
        return time.monotonic() - self._last_s >= self.period_s

    def show(self, text: str, force: bool = False) -> None:
        """Show `text` as the status line (redrawn on a terminal; a plain line elsewhere,
        at most once per period unless `force`)."""
        self.text = text
        if self.tty:
            self.stream.write(_CLEAR + text)
            self.stream.flush()
            self._last_s = time.monotonic()
        elif force or self.due():
            self.stream.write(text + "\n")
            self.stream.flush()
            self._last_s = time.monotonic()

    def print_above(self, text: str) -> int:
        """Write `text` (whole lines) above the status line."""
        if self.tty and self.text:
            self.stream.write(_CLEAR + text)
            if text.endswith("\n"):
                self.stream.write(self.text)
        else:
            self.stream.write(text)
        self.stream.flush()
        return len(text)

    def finish(self, final: str | None = None) -> None:
        """End the status line: replace it by `final` (a line of its own), restore logging."""
        if self.tty and self.text:
            self.stream.write(_CLEAR)
        self.text = ""
        if final:
            self.stream.write(final + "\n")
        self.stream.flush()
        self.uninstall()
