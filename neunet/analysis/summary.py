"""Summary statistics of one simulation (firing rate, CV, Fano, synchrony, voltage), pure numpy.

Every statistic is a function ``f(result, pm=None, **options) -> float`` registered in
`STATS`; `summarize` computes several at once and `per_neuron` gives the per-neuron arrays
behind them. Each accepts a `Basis` in place of a result: what the statistics share (the
split raster, spike counts, per-neuron CV and Fano) is then computed once. Times are in ms
(as in the simulator); rates are in Hz. The duration T is the parameter ``'t'`` (ms, warm-up
excluded), else the sampled time span.

Definitions (n neurons, spikes of neuron i at times t_i1 < t_i2 < ...):

- ``n_spikes``: total number of spikes in the raster.
- ``mean_rate``: spikes / n / (T / 1000), in Hz.
- ``cv_isi``: per neuron std / mean of its inter-spike intervals (neurons with at least two
  intervals), averaged over those neurons; NaN when none.
- ``fano``: per neuron var / mean of its spike counts in consecutive windows of
  ``fano_window_ms`` (default 100 ms, at least two windows needed), averaged over neurons
  that fired; NaN when undefined.
- ``chi``: Golomb's synchrony index, ``sqrt(var_t(mean_i V_i) / mean_i var_t(V_i))``
  (1 for one neuron or full synchrony, near 0 for asynchronous activity).
- ``v_mean``, ``v_std``: mean over neurons of each neuron's temporal mean / std of V.
"""
from __future__ import annotations

import functools
import math

import numpy as np

# Default window (ms) of the spike-count Fano factor.
FANO_WINDOW_MS = 100.0


def _pm(result, pm):
    return pm if pm is not None else (getattr(result, "pm", None) or {})


def _volt(result):
    """The (n, K) voltage array, or None when the result has none."""
    return result.volt if "volt" in result else None


def _raster(result):
    """(ids 0-based int array, times ms) of all spikes; empty when no raster."""
    if "ras" not in result:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    ras = np.asarray(result.ras, dtype=float).reshape(-1, 2)
    return ras[:, 0].astype(np.int64) - 1, ras[:, 1]


class Basis:
    """One result and what its statistics share, each computed once on first use (the
    raster split into ids and times, spike counts, per-neuron CV and Fano, voltage means).

    Every statistic accepts a Basis in place of a result (its `pm` is then the Basis's):
    `summarize` and `per_neuron` of the same Basis compute the shared parts once.

    Parameters
    ----------
    result : Result
        One simulation's outputs.
    pm : dict, optional
        Its parameters (default: ``result.pm``).
    """

    def __init__(self, result, pm=None):
        self.result, self.pm = result, _pm(result, pm)
        self._fano: dict = {}

    @functools.cached_property
    def raster(self):
        return _raster(self.result)

    @functools.cached_property
    def volt(self):
        return _volt(self.result)

    @functools.cached_property
    def n(self) -> int:
        try:
            return int(self.result.n)
        except AttributeError:
            return int(self.pm.get("nE", 0)) + int(self.pm.get("nI", 0))

    @functools.cached_property
    def duration_ms(self) -> float:
        if self.pm.get("t") is not None:
            return float(self.pm["t"])
        if self.volt is not None:
            return float(self.volt.shape[1] * float(self.pm.get("stv") or self.pm.get("dt")
                                                    or 1.0))
        raise ValueError("duration unknown: give pm with 't'")

    @functools.cached_property
    def counts(self) -> np.ndarray:
        ids = self.raster[0]
        return np.bincount(ids, minlength=max(self.n, int(ids.max()) + 1 if ids.size else 0))

    @functools.cached_property
    def cv_isi(self) -> np.ndarray:
        return _cv_isi(*self.raster, len(self.counts))

    def fano(self, window_ms: float) -> np.ndarray:
        if window_ms not in self._fano:
            self._fano[window_ms] = _fano(*self.raster, len(self.counts), self.duration_ms,
                                          window_ms)
        return self._fano[window_ms]

    @functools.cached_property
    def v_mean(self) -> np.ndarray:
        return self.volt.mean(axis=1)

    @functools.cached_property
    def v_std(self) -> np.ndarray:
        return self.volt.std(axis=1)


def _basis(result, pm=None) -> Basis:
    return result if isinstance(result, Basis) else Basis(result, pm)


def _cv_isi(ids, times, n: int) -> np.ndarray:
    order = np.lexsort((times, ids))
    ids, times = ids[order], times[order]
    same = ids[1:] == ids[:-1]
    isi, who = np.diff(times)[same], ids[1:][same]
    count = np.bincount(who, minlength=n).astype(float)
    total = np.bincount(who, weights=isi, minlength=n)
    total_sq = np.bincount(who, weights=isi * isi, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        var = np.maximum(total_sq / count - mean * mean, 0.0)
        cv = np.sqrt(var) / mean
    cv[count < 2] = np.nan
    return cv


def _fano(ids, times, n: int, t_ms: float, window_ms: float) -> np.ndarray:
    n_win = math.floor(t_ms / float(window_ms) + 1e-9)
    if n_win < 2 or window_ms <= 0:
        return np.full(n, np.nan)
    win = np.floor(times / float(window_ms)).astype(np.int64)
    ok = (win >= 0) & (win < n_win)
    counts = np.bincount(ids[ok] * n_win + win[ok], minlength=n * n_win).reshape(n, n_win)
    mean = counts.mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        fano = counts.var(axis=1) / mean
    fano[mean == 0] = np.nan
    return fano


def duration_ms(result, pm=None) -> float:
    """Simulated time T in ms: pm['t'], else samples x stv."""
    return _basis(result, pm).duration_ms


def n_neurons(result, pm=None) -> int:
    """Number of neurons, from the arrays or from pm nE + nI."""
    return _basis(result, pm).n


def spike_counts(result, pm=None) -> np.ndarray:
    """Spikes per neuron, shape (n,)."""
    return _basis(result, pm).counts


def rate_per_neuron(result, pm=None) -> np.ndarray:
    """Firing rate of each neuron in Hz, shape (n,)."""
    b = _basis(result, pm)
    return b.counts / (b.duration_ms / 1000.0)


def cv_isi_per_neuron(result, pm=None) -> np.ndarray:
    """CV of the inter-spike intervals of each neuron (NaN below two intervals), shape (n,)."""
    return _basis(result, pm).cv_isi


def fano_per_neuron(result, pm=None, fano_window_ms: float = FANO_WINDOW_MS) -> np.ndarray:
    """Fano factor of each neuron's spike counts in windows of `fano_window_ms`, shape (n,)."""
    return _basis(result, pm).fano(float(fano_window_ms))


def _nanmean(values) -> float:
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else math.nan


def n_spikes(result, pm=None) -> float:
    """Total number of spikes."""
    return float(_basis(result, pm).raster[0].size)


def mean_rate(result, pm=None) -> float:
    """Mean firing rate over neurons, Hz."""
    b = _basis(result, pm)
    if b.n == 0:
        return math.nan
    return n_spikes(b) / b.n / (b.duration_ms / 1000.0)


def cv_isi(result, pm=None) -> float:
    """Mean over neurons (with two or more intervals) of the ISI coefficient of variation."""
    return _nanmean(cv_isi_per_neuron(result, pm))


def fano(result, pm=None, fano_window_ms: float = FANO_WINDOW_MS) -> float:
    """Mean over firing neurons of the spike-count Fano factor (windows of fano_window_ms)."""
    return _nanmean(fano_per_neuron(result, pm, fano_window_ms))


def chi(result, pm=None) -> float:
    """Golomb's synchrony index chi from the voltage traces (NaN without voltage)."""
    b = _basis(result, pm)
    if b.volt is None or b.volt.size == 0:
        return math.nan
    denom = float(np.mean(np.var(b.volt, axis=1)))
    if denom <= 0 or not math.isfinite(denom):
        return math.nan
    return math.sqrt(float(np.var(b.volt.mean(axis=0))) / denom)


def v_mean(result, pm=None) -> float:
    """Mean voltage (over neurons of the temporal mean); NaN without voltage."""
    volt = _basis(result, pm).volt
    return math.nan if volt is None or volt.size == 0 else float(volt.mean())


def v_std(result, pm=None) -> float:
    """Mean over neurons of the temporal standard deviation of V; NaN without voltage."""
    b = _basis(result, pm)
    return math.nan if b.volt is None or b.volt.size == 0 else float(b.v_std.mean())


# Name -> statistic function f(result, pm, **options) -> float; the filter's `stats` names.
STATS = {"mean_rate": mean_rate, "cv_isi": cv_isi, "fano": fano, "chi": chi,
         "v_mean": v_mean, "v_std": v_std, "n_spikes": n_spikes}
# Options a statistic accepts (passed from the filter spec).
STAT_OPTIONS = {"fano": ("fano_window_ms",)}


def summarize(result, pm=None, stats=None, **options) -> dict:
    """Compute several statistics at once.

    Parameters
    ----------
    result : Result or Basis
        One simulation's outputs (a `Basis` shares its parts with `per_neuron`).
    pm : dict, optional
        Its parameters (default: ``result.pm``).
    stats : list of str, optional
        Names from `STATS` (default: all).
    **options
        Statistic options, e.g. ``fano_window_ms``.

    Returns
    -------
    dict
        Name -> float (NaN where undefined).
    """
    b = _basis(result, pm)
    out = {}
    for name in (STATS if stats is None else stats):
        kwargs = {k: options[k] for k in STAT_OPTIONS.get(name, ()) if options.get(k) is not None}
        out[name] = float(STATS[name](b, **kwargs))
    return out


def per_neuron(result, pm=None, fano_window_ms: float = FANO_WINDOW_MS) -> dict:
    """Per-neuron statistics: rate_hz, n_spikes, cv_isi, fano, v_mean, v_std (arrays (n,),
    new arrays the caller may keep)."""
    b = _basis(result, pm)
    out = {"rate_hz": rate_per_neuron(b),
           "n_spikes": b.counts.astype(float),
           "cv_isi": b.cv_isi.copy(),
           "fano": b.fano(float(fano_window_ms)).copy()}
    if b.volt is not None:
        out["v_mean"] = b.v_mean.copy()
        out["v_std"] = b.v_std.copy()
    return out
