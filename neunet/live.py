"""Owns watching one simulation while it runs: the growing volt file (`VoltReader`) and the
live voltage plot (`LiveVoltage`).

`neunet.single.gen_neu(pm, 'v live')` feeds it the voltage rows written so far. matplotlib is
imported only when a plot is made; without a display (no DISPLAY/WAYLAND_DISPLAY on Linux,
and no MPLBACKEND chosen) the Agg backend is used, so it also works headless.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

# Neurons shown by a voltage plot when none are chosen.
DEFAULT_NEURONS = 4
# Fewest seconds between two redraws of a live plot on an interactive backend.
LIVE_REDRAW_S = 0.2


def pyplot():
    """Import pyplot, choosing Agg when there is no display."""
    import matplotlib

    headless = (sys.platform.startswith("linux") and not os.environ.get("DISPLAY")
                and not os.environ.get("WAYLAND_DISPLAY"))
    chosen = getattr(matplotlib.rcParams, "_get_backend_or_none", lambda: None)()
    if headless and chosen is None and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")  # nobody chose a backend and there is no display
    import matplotlib.pyplot as plt

    return plt


def is_interactive() -> bool:
    """Whether the current matplotlib backend redraws a figure while code runs (a window, or
    ipympl's widget in Jupyter); not Agg and the file backends, nor Jupyter's inline one,
    which shows a figure once the cell ends."""
    import matplotlib

    name = matplotlib.get_backend().lower()
    return name not in ("agg", "pdf", "svg", "ps", "cairo", "template", "pgf") \
        and "inline" not in name


def not_live_message(save_path=None) -> str:
    """What the live plot says on a backend that cannot show it while it grows."""
    import matplotlib

    name = matplotlib.get_backend()
    where = (f"the final frame goes to {save_path}" if save_path else
             "to get a file: LiveVoltage(pm, save_path='volt.png') as gen_neu's watcher, or "
             "neunet.plot.voltage(result).savefig('volt.png') afterwards")
    jupyter = "inline" in name.lower()
    how = ("in Jupyter run `%matplotlib widget` first (pip install ipympl)" if jupyter else
           "with a display, choose an interactive backend (MPLBACKEND=TkAgg or QtAgg)")
    return (f"neunet: live voltage plot: matplotlib backend {name!r} cannot redraw while the "
            f"simulation runs ({how}); {where}")



class LiveVoltage:
    """A voltage plot that grows while a simulation runs (`gen_neu(pm, 'v live')`).

    `update` is called a few times per second with the rows written so far; `close` draws
    the final result. Works on any backend: on a non-interactive one (Agg) the figure is
    kept up to date without windows and can be saved. `points` records how many samples
    were plotted at each update.

    Parameters
    ----------
    pm : dict
        The simulation's parameters (for the time axis: stv, output-first-data-point).
    neurons : list of int, optional
        1-based ids to show (default: the first few).
    save_path : str, optional
        Where `close` saves the final frame.
    window_ms : float, optional
        Show only the last `window_ms` of simulated time, scrolling as it grows (default:
        the whole run).
    stream : file, optional
        Where the note about a backend that cannot redraw goes (default stderr).
    """

    def __init__(self, pm, neurons=None, save_path=None, window_ms=None, stream=None):
        self.pm = dict(pm or {})
        if window_ms is not None and not float(window_ms) > 0:
            raise ValueError(f"window_ms must be > 0, got {window_ms!r}")
        self.window_ms = None if window_ms is None else float(window_ms)
        self.stream = stream
        self.neurons = None if neurons is None else [int(i) for i in np.atleast_1d(neurons)]
        self.save_path = save_path
        self.points: list[int] = []
        self.fig = None
        self._lines = []
        self._last_draw = 0.0
        stv = float(self.pm.get("stv") or self.pm.get("dt") or 1.0)
        self._stv_ms = stv
        self._t0_ms = 0.0 if self.pm.get("output-first-data-point") else stv

    def _setup(self, n: int):
        plt = pyplot()
        self.fig, self.ax = plt.subplots(figsize=(8, 4))
        ids = self.neurons or list(range(1, min(n, DEFAULT_NEURONS) + 1))
        self._rows = [i - 1 for i in ids if 1 <= i <= n]
        self._lines = [self.ax.plot([], [], lw=0.8, label=f"neuron {r + 1}")[0]
                       for r in self._rows]
        self.ax.set_xlabel("time (ms)")
        self.ax.set_ylabel("V")
        t_end = float(self.pm.get("t") or 1.0)
        self.ax.set_xlim(0, t_end)
        self.ax.legend(loc="upper right", fontsize="small")
        self.ax.set_title("voltage (live)")
        if is_interactive():
            plt.show(block=False)
        else:
            (self.stream or sys.stderr).write(not_live_message(self.save_path) + "\n")

    def update(self, volt_so_far):
        """Plot the rows so far: `volt_so_far` is (n, K), K growing between calls."""
        volt = np.asarray(volt_so_far, dtype=float)
        if volt.ndim != 2:
            raise ValueError(f"update needs an (n, K) array, got shape {volt.shape}")
        if self.fig is None:
            self._setup(volt.shape[0])
        t_ms = self._t0_ms + self._stv_ms * np.arange(volt.shape[1])
        first = 0
        if self.window_ms is not None and volt.shape[1]:
            end = float(t_ms[-1])
            first = int(np.searchsorted(t_ms, end - self.window_ms))
            self.ax.set_xlim(max(0.0, end - self.window_ms), max(end, self.window_ms))
        for line, row in zip(self._lines, self._rows):
            line.set_data(t_ms[first:], volt[row, first:])
        if volt.size and first < volt.shape[1]:
            shown = volt[self._rows, first:]
            lo, hi = float(np.nanmin(shown)), float(np.nanmax(shown))
            pad = 0.05 * (hi - lo) or 1.0
            self.ax.set_ylim(lo - pad, hi + pad)
        self.points.append(int(volt.shape[1]))
        self._redraw()

    def _redraw(self, force=False):
        now = time.monotonic()
        if not is_interactive() or (not force and now - self._last_draw < LIVE_REDRAW_S):
            return
        self._last_draw = now
        self.fig.canvas.draw_idle()
        self.fig.canvas.flush_events()

    def close(self, result=None):
        """Draw the final traces (from `result.volt` when given); save if `save_path` is set."""
        if result is not None and "volt" in result:
            self.update(result.volt)
        if self.fig is None:
            return None
        self.ax.set_title("voltage")
        self._redraw(force=True)
        if self.save_path:
            self.fig.savefig(self.save_path)
        return self.fig

    def save(self, path):
        """Save the current frame to `path`."""
        if self.fig is None:
            raise ValueError("nothing plotted yet")
        self.fig.savefig(path)


class VoltReader:
    """Reads the complete rows of a growing volt file, incrementally.

    Parameters
    ----------
    path : str
        The volt file the simulator writes (raw float64, n values per row).
    n : int
        Number of neurons.
    """

    def __init__(self, path, n: int):
        self.path, self.n = path, n
        self._chunks, self._rows, self._offset = [], 0, 0

    def poll(self) -> bool:
        """Read rows appended since the last call; True when there were new rows."""
        try:
            size = os.path.getsize(self.path)
        except OSError:
            return False
        row_bytes = 8 * self.n
        new_rows = (size - self._offset) // row_bytes
        if new_rows <= 0:
            return False
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            data = np.fromfile(f, dtype="<f8", count=new_rows * self.n)
        got = data.size // self.n
        if got == 0:
            return False
        self._chunks.append(data[:got * self.n].reshape(got, self.n))
        self._offset += got * row_bytes
        self._rows += got
        return True

    def volt(self) -> np.ndarray:
        """All complete rows read so far as an (n, K) array."""
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        if not self._chunks:
            return np.zeros((self.n, 0))
        return self._chunks[0].T
