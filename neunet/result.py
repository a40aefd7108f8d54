"""The result object of one simulation: a (path, kind, data) sequence with named access.

`gen_neu`, `simulate` and `open_run(...).load` all return a `Result`, so code written against
the original interface (`result[0][2][0]` is the first neuron's voltage trace) and code using
names (`result.volt`, `result.ras`) both work.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Order of entries in a Result, and the kind name each array key is shown under.
KIND_ORDER = (("volt", "volt"), ("ras", "ras"), ("isi", "isi"),
              ("conductance", "conductance"), ("ion_gate", "ion-gate"),
              ("poisson", "poisson"))
# Array key -> kind name.
KIND_OF_KEY = dict(KIND_ORDER)
# Kind name -> array key.
KEY_OF_KIND = {kind: key for key, kind in KIND_ORDER}


class Result(Sequence):
    """Outputs of one simulation.

    Parameters
    ----------
    arrays : dict
        Arrays keyed as in `docs/design.md` (`volt` (n, K), `ras` (k, 2), `isi` (n,),
        `conductance` (n, 2, K), `ion_gate` (n, 3, K), `poisson` (e, 3)).
    pm : dict, optional
        The parameters that produced it.
    paths : dict, optional
        File path of each key, when files were written.
    """

    def __init__(self, arrays: dict, pm: dict | None = None, paths: dict | None = None):
        self._arrays = {k: arrays[k] for k, _ in KIND_ORDER if k in arrays}
        self.pm = pm
        self._paths = dict(paths or {})
        self.extra = {k: v for k, v in arrays.items() if k not in KIND_OF_KEY}

    @classmethod
    def from_arrays(cls, arrays: dict, pm: dict | None = None, paths: dict | None = None):
        """Build a Result from a dict of arrays (see the class docstring)."""
        return cls(arrays, pm=pm, paths=paths)

    def to_arrays(self) -> dict:
        """Return the arrays as a dict keyed `volt`, `ras`, ... (no copies)."""
        return dict(self._arrays, **self.extra)

    def _entries(self):
        return [(self._paths.get(k), KIND_OF_KEY[k], v) for k, v in self._arrays.items()]

    def __getitem__(self, i):
        return self._entries()[i]

    def __len__(self):
        return len(self._arrays)

    def __contains__(self, kind):
        return kind in KEY_OF_KIND and KEY_OF_KIND[kind] in self._arrays

    def _get(self, key):
        if key not in self._arrays:
            raise AttributeError(f"this result has no {KIND_OF_KEY[key]!r} data "
                                 f"(it has: {', '.join(self.kinds) or 'nothing'})")
        return self._arrays[key]

    @property
    def kinds(self):
        """Kind names present, in entry order."""
        return [KIND_OF_KEY[k] for k in self._arrays]

    @property
    def paths(self):
        """File path of each present kind (None when not written to a file)."""
        return {KIND_OF_KEY[k]: self._paths.get(k) for k in self._arrays}

    volt = property(lambda self: self._get("volt"), doc="Voltage, neurons x samples.")
    ras = property(lambda self: self._get("ras"), doc="Spikes: (k, 2) [id (1-based), t_ms].")
    isi = property(lambda self: self._get("isi"), doc="Mean inter-spike interval per neuron (ms).")
    conductance = property(lambda self: self._get("conductance"),
                           doc="Conductances, neurons x 2 (gE, gI) x samples.")
    ion_gate = property(lambda self: self._get("ion_gate"),
                        doc="Gating variables, neurons x 3 (h, m, n) x samples.")
    poisson = property(lambda self: self._get("poisson"),
                       doc="Input events used: (e, 3) [id, t_ms, strength].")

    @property
    def n(self) -> int:
        """Number of neurons (from the first array that tells)."""
        for key in ("volt", "isi", "conductance", "ion_gate"):
            if key in self._arrays:
                return int(self._arrays[key].shape[0])
        if self.pm is not None:
            return int(self.pm.get("nE", 0)) + int(self.pm.get("nI", 0))
        raise AttributeError("number of neurons unknown")

    @property
    def t_ms(self) -> np.ndarray:
        """Sample times of the volt/conductance/gate columns (ms after warm-up)."""
        if "t_ms" in self.extra:  # kept data windowed or down-sampled by a filter
            return np.asarray(self.extra["t_ms"])
        k = self.volt.shape[1]
        pm = self.pm or {}
        stv = float(pm.get("stv") or pm.get("dt") or 1.0)
        first = bool(pm.get("output-first-data-point", False))
        start = 0 if first else 1
        return stv * np.arange(start, start + k)

    def spikes_of(self, neuron: int) -> np.ndarray:
        """Spike times (ms) of one neuron, 1-based id as in the raster."""
        ras = self.ras
        return ras[ras[:, 0] == neuron, 1]

    def describe(self) -> list[tuple[str, str]]:
        """(kind, description) of each array: its shape and, for the raster, spike counts."""
        out = []
        for key, value in self._arrays.items():
            text = f"{tuple(value.shape)} {value.dtype}"
            if key == "ras":
                ids = np.asarray(value).reshape(-1, 2)[:, 0] if value.size else np.zeros(0)
                per = np.bincount(ids.astype(int), minlength=1)[1:] if ids.size else []
                text = f"{len(ids)} spikes" + (
                    f" from {np.count_nonzero(per)} neurons (at most {int(max(per))} each)"
                    if len(per) else "")
            out.append((KIND_OF_KEY[key], text))
        out += [(key, f"{tuple(np.shape(v))}") for key, v in self.extra.items()]
        return out

    def __repr__(self):
        parts = [f"{KIND_OF_KEY[k]}{tuple(v.shape)}" for k, v in self._arrays.items()]
        head = f"Result({', '.join(parts)})"
        if "ras" in self._arrays:
            head += f": {len(np.asarray(self._arrays['ras']).reshape(-1, 2))} spikes"
        pm = self.pm or {}
        if pm.get("t") is not None:
            head += f", {pm.get('neuron-model', '?')} {pm.get('nE', '?')}E+{pm.get('nI', '?')}I"
            head += f", t={pm['t']} ms"
        return head

    def _repr_html_(self):
        import html
        rows = "".join(f"<tr><td><code>{html.escape(k)}</code></td><td>{html.escape(t)}</td>"
                       "</tr>" for k, t in self.describe())
        pm = self.pm or {}
        what = ", ".join(f"{k}={pm[k]}" for k in ("neuron-model", "nE", "nI", "t", "pr", "ps")
                         if k in pm)
        return (f"<div class='neunet-result'><p><b>Result</b> {html.escape(what)}</p>"
                f"<table><tr><th>data</th><th>what it holds</th></tr>{rows}</table></div>")

    def __eq__(self, other):
        if not isinstance(other, Result) or self.kinds != other.kinds:
            return NotImplemented if not isinstance(other, Result) else False
        return all(np.array_equal(a, other._arrays[k], equal_nan=True)
                   for k, a in self._arrays.items())

    __hash__ = None
