"""gen_neu output files and the engine's sinks: FileSink, ArraySink, layouts, Progress (spec 4).

Sinks implement the engine's ``Sink`` protocol: ``FileSink`` streams gen_neu's files chunk
by chunk (flushed, so a live plot can follow the volt file), ``ArraySink`` keeps numpy
arrays for the in-process API. `output_order` is the --output-poisson-path event order.
The input readers are in `neunet.sim.readers`.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

from neunet.sim.options import SimInputError


def output_order(t_ends, ids, times):
    """Permutation putting a chunk's events in --output-poisson-path order (step, neuron)."""
    step = np.searchsorted(t_ends, times, side="right")
    return np.lexsort((ids, step))


def _open_output(path, mode):
    """Open an output file, creating its directory; failures are input errors."""
    try:
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        return open(path, mode)
    except OSError as e:
        raise SimInputError(f"cannot write output file {path}: {e.strerror}") from None


def format_ras(ids, times) -> str:
    """Raster lines ``id<TAB>time`` (id 1-based, %.17g) for 0-based `ids`.

    One %-format over all the lines: a format per line cost ~1.5x as much."""
    values = [None] * (2 * len(ids))
    values[0::2] = (np.asarray(ids) + 1).tolist()
    values[1::2] = np.asarray(times, dtype=np.float64).tolist()
    return ("%d\t%.17g\n" * len(ids)) % tuple(values)


def format_isi(t_ms, spike_counts) -> str:
    """ISI file text: T/count per neuron (``inf`` when silent), each followed by a TAB."""
    return "".join(("%.17g\t" % (t_ms / c)) if c else "inf\t" for c in spike_counts.tolist())


def format_events(ids, times, strengths) -> str:
    """--output-poisson-path lines ``id<TAB>time<TAB>strength`` for 0-based `ids`."""
    return "".join("%d\t%.17g\t%.17g\n" % (i + 1, t, s)
                   for i, t, s in zip(ids.tolist(), times.tolist(), strengths.tolist()))


class Progress:
    """One-line updating progress display: simulated ms, % done, elapsed, ETA.

    Parameters
    ----------
    total_ms : float
        Simulated time at the end of the run (warm-up included).
    stream : file
        Where to draw (stderr by default).
    min_interval_s : float
        Redraw at most this often.
    """

    def __init__(self, total_ms, stream=None, min_interval_s=0.1):
        self.total_ms = total_ms
        self.stream = stream or sys.stderr
        self.min_interval_s = min_interval_s
        self.start_s = time.perf_counter()
        self._last_s = -1e9

    def update(self, t_ms, force=False):
        """Redraw for simulated time `t_ms` (rate-limited unless `force`)."""
        now = time.perf_counter()
        if not force and now - self._last_s < self.min_interval_s:
            return
        self._last_s = now
        elapsed = now - self.start_s
        frac = min(max(t_ms / self.total_ms, 0.0), 1.0) if self.total_ms > 0 else 1.0
        eta = f"{elapsed * (1 - frac) / frac:7.1f} s" if frac > 0 else "      ? s"
        self.stream.write(f"\r{t_ms:12.1f} / {self.total_ms:.1f} ms {100 * frac:5.1f} %  "
                          f"elapsed {elapsed:7.1f} s  ETA {eta}")
        self.stream.flush()

    def close(self):
        """Draw the final state and end the line."""
        self.update(self.total_ms, force=True)
        self.stream.write("\n")
        self.stream.flush()


class FileSink:
    """Sink writing gen_neu's output files; every chunk is written and flushed at once.

    Parameters
    ----------
    paths : dict
        Output kind ("volt", "ras", "isi", "conductance", "ion_gate", "poisson") -> path
        (kinds absent or None are not written).
    t_ms : float
        The --t value (the ISI file divides by it).
    progress : Progress or None
    """

    def __init__(self, paths, t_ms, progress=None):
        self.t_ms = t_ms
        self.progress_display = progress
        self.spike_counts = None
        self._files = {}
        for kind, path in paths.items():
            if path is not None:
                binary = kind in ("volt", "conductance", "ion_gate")
                self._files[kind] = _open_output(path, "wb" if binary else "w")

    def _write(self, kind, data):
        f = self._files.get(kind)
        if f is not None and data is not None:
            f.write(data if isinstance(data, str) else
                    np.ascontiguousarray(data, dtype="<f8").tobytes())
            f.flush()

    def samples(self, volt, cond, gate):
        """Append rows to the volt, conductance and ion-gate files."""
        self._write("volt", volt)
        self._write("conductance", cond)
        self._write("ion_gate", gate)

    def spikes(self, ids, times):
        """Append raster lines."""
        if len(ids):
            self._write("ras", format_ras(np.asarray(ids), np.asarray(times)))

    def events(self, ids, times, strengths):
        """Append --output-poisson-path lines (the event sources' on_events callback)."""
        if len(ids):
            self._write("poisson", format_events(ids, times, strengths))

    def progress(self, t_ms):
        """Update the progress display, if any."""
        if self.progress_display is not None:
            self.progress_display.update(t_ms)

    def finish(self, spike_counts):
        """Write the ISI file."""
        self.spike_counts = np.asarray(spike_counts)
        self._write("isi", format_isi(self.t_ms, self.spike_counts))
        if self.progress_display is not None:
            self.progress_display.close()

    def close(self):
        """Close every file (also after a failure)."""
        for f in self._files.values():
            f.close()
        self._files = {}


class ArraySink:
    """Sink keeping outputs as numpy arrays (shapes of docs/design.md, simulator outputs).

    Parameters
    ----------
    n : int
    t_ms : float
        The --t value (for "isi").
    outputs : iterable of str
        Keys to keep: volt, ras, isi, conductance, ion_gate, poisson.
    """

    def __init__(self, n, t_ms, outputs):
        self.n, self.t_ms, self.outputs = n, t_ms, set(outputs)
        self._chunks = {k: [] for k in ("volt", "conductance", "ion_gate", "ras", "poisson")}
        self.spike_counts = None

    def samples(self, volt, cond, gate):
        """Keep sample rows."""
        for kind, rows in (("volt", volt), ("conductance", cond), ("ion_gate", gate)):
            if kind in self.outputs and rows is not None:
                self._chunks[kind].append(np.array(rows, dtype=np.float64))

    def spikes(self, ids, times):
        """Keep raster entries (1-based ids)."""
        if "ras" in self.outputs and len(ids):
            self._chunks["ras"].append(np.column_stack([np.asarray(ids) + 1.0, times]))

    def events(self, ids, times, strengths):
        """Keep input events (the event sources' on_events callback)."""
        if "poisson" in self.outputs and len(ids):
            self._chunks["poisson"].append(np.column_stack([ids + 1.0, times, strengths]))

    def progress(self, t_ms):
        """No display in memory."""

    def finish(self, spike_counts):
        """Remember the spike counts (for "isi")."""
        self.spike_counts = np.asarray(spike_counts)

    def result(self) -> dict:
        """The requested outputs as a dict of arrays."""
        out = {}
        widths = {"volt": 1, "conductance": 2, "ion_gate": 3}
        for kind, width in widths.items():
            if kind in self.outputs:
                rows = (np.concatenate(self._chunks[kind]) if self._chunks[kind]
                        else np.empty((0, width * self.n)))
                k = rows.shape[0]
                arr = rows.reshape(k, self.n, width).transpose(1, 2, 0)
                out[kind] = np.ascontiguousarray(arr[:, 0, :] if width == 1 else arr)
        for kind, width in (("ras", 2), ("poisson", 3)):
            if kind in self.outputs:
                out[kind] = (np.concatenate(self._chunks[kind]) if self._chunks[kind]
                             else np.empty((0, width)))
        if "isi" in self.outputs:
            counts = self.spike_counts.astype(np.float64)
            with np.errstate(divide="ignore"):
                out["isi"] = np.where(counts > 0, self.t_ms / counts, np.inf)
        return out
