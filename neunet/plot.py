"""Plots of results and sweeps (raster, voltage, sweep) and their command line.

matplotlib is imported only when a plot is made; without a display (no DISPLAY/WAYLAND_DISPLAY
on Linux, and no MPLBACKEND chosen) the Agg backend is used, so everything also works headless.
Each function returns the matplotlib Figure. From the shell::

    python -m neunet.plot RUN_DIR --x pr --y mean_rate [--hue neuron-model] -o sweep.png
    python -m neunet.plot RUN_DIR --raster TID -o raster.png
"""
from __future__ import annotations

import argparse
import difflib
import os
import sys

import numpy as np

from neunet.live import DEFAULT_NEURONS, LiveVoltage, is_interactive, pyplot

# The public plotting API (LiveVoltage is the live plot's, offered here too).
__all__ = ["LiveVoltage", "is_interactive", "main", "raster", "sweep", "voltage"]


def _neuron_ids(result) -> np.ndarray:
    """1-based ids of the rows of result.volt (a filter may have kept only some neurons)."""
    extra = getattr(result, "extra", {}) or {}
    if "neuron_ids" in extra:
        return np.asarray(extra["neuron_ids"], dtype=int)
    return np.arange(1, result.volt.shape[0] + 1)


def raster(result, ax=None, title=None, window=None, neurons=None):
    """Spike raster: one dot per spike, neuron id against time (ms).

    Parameters
    ----------
    result : Result
        With `ras` data.
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).
    title : str, optional
        Axes title.
    window : (float, float), optional
        Only spikes from T0 to T1 ms (the x axis shows that window).
    neurons : list of int, optional
        Only these 1-based neuron ids.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = pyplot()
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(8, 4))
    ras = np.asarray(result.ras, dtype=float).reshape(-1, 2)
    if neurons is not None:
        ras = ras[np.isin(ras[:, 0], np.atleast_1d(neurons).astype(float))]
    if window is not None:
        t0, t1 = _check_window(window)
        ras = ras[(ras[:, 1] >= t0) & (ras[:, 1] <= t1)]
        ax.set_xlim(t0, t1)
    ax.scatter(ras[:, 1], ras[:, 0], s=12, marker="|", color="k", linewidths=1)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron")
    if neurons is not None:
        ax.set_ylim(min(np.atleast_1d(neurons)) - 0.5, max(np.atleast_1d(neurons)) + 0.5)
    elif ras.size:
        ax.set_ylim(0.5, ras[:, 0].max() + 0.5)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(title or f"raster: {len(ras)} spikes")
    return fig


def voltage(result, neurons=None, ax=None, title=None, window=None):
    """Voltage traces against time.

    Parameters
    ----------
    result : Result
        With `volt` data.
    neurons : int or list of int, optional
        1-based neuron ids (default: the first few).
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).
    title : str, optional
        Axes title.
    window : (float, float), optional
        Only samples from T0 to T1 ms.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = pyplot()
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(8, 4))
    ids = _neuron_ids(result)
    wanted = ids[:DEFAULT_NEURONS] if neurons is None else np.atleast_1d(neurons).astype(int)
    missing = [int(i) for i in wanted if i not in ids]
    if missing:
        raise ValueError(f"neuron(s) {missing} not in this result (it has {ids.tolist()})")
    t_ms = result.t_ms
    cols = slice(None)
    if window is not None:
        t0, t1 = _check_window(window)
        cols = (t_ms >= t0) & (t_ms <= t1)
        ax.set_xlim(t0, t1)
    for nid in wanted:
        ax.plot(t_ms[cols], result.volt[int(np.flatnonzero(ids == nid)[0])][cols], lw=0.8,
                label=f"neuron {nid}")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("V")
    ax.legend(loc="upper right", fontsize="small")
    ax.set_title(title or "voltage")
    return fig


def _check_window(window) -> tuple[float, float]:
    t0, t1 = (float(t) for t in window)
    if not t1 > t0:
        raise ValueError(f"window {t0:g} {t1:g}: T1 must be after T0")
    return t0, t1


def neuron_list(text: str) -> list[int]:
    """``"1,3,5-8"`` -> [1, 3, 5, 6, 7, 8] (1-based neuron ids)."""
    out = []
    for part in str(text).split(","):
        lo, sep, hi = part.strip().partition("-")
        try:
            first, last = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise ValueError(f"--neurons {text!r}: use ids and ranges such as 1,3,5-8") from None
        if first < 1 or last < first:
            raise ValueError(f"--neurons {text!r}: ids start at 1 and ranges go up")
        out.extend(range(first, last + 1))
    return out


def _as_table(run):
    """A DataFrame from a Run, a DataFrame, or a run directory path."""
    if hasattr(run, "table"):
        return run.table()
    if isinstance(run, (str, os.PathLike)):
        from neunet.store import open_run

        return open_run(run).table()
    return run


def _check_column(df, name, what):
    if name not in df.columns:
        alt = {c.replace("-", "_"): c for c in df.columns}
        if name in alt:
            return alt[name]
        close = difflib.get_close_matches(name, list(df.columns), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"no column {name!r} for {what}{hint}")
    return name


def sweep(run, x="pr", y="mean_rate", hue="neuron-model", ax=None, title=None):
    """One line per `hue` value: `y` against `x` over the finished tasks of a sweep.

    Parameters
    ----------
    run : Run, DataFrame or path
        `open_run(...)`, its `table()` (or a query of it), or a run directory.
    x, y : str
        Column names (hyphens may be written as underscores).
    hue : str or None
        Column whose values get one line each (None: one line).
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    df = _as_table(run)
    x, y = _check_column(df, x, "x"), _check_column(df, y, "y")
    hue = _check_column(df, hue, "hue") if hue else None
    if "status" in df.columns:
        df = df[df["status"] == "finished"]
    df = df[df[y].notna()]
    plt = pyplot()
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(7, 4.5))
    groups = df.groupby(hue, sort=True) if hue else [(None, df)]
    for key, part in groups:
        part = part.sort_values(x)
        label = None if hue is None else f"{hue} = {key[0] if isinstance(key, tuple) else key}"
        ax.plot(part[x].to_numpy(), part[y].to_numpy(), marker="o", ms=3, lw=1, label=label)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if hue is not None and len(df):
        ax.legend(fontsize="small")
    ax.set_title(title or f"{y} vs {x} ({len(df)} finished tasks)")
    return fig


# ----------------------------------------------------------------------------------------
# Command line


def _parser():
    p = argparse.ArgumentParser(prog="python -m neunet.plot",
                                description="Plot a sweep's summary (or one task's raster).")
    p.add_argument("run_dir", help="run directory (the coordinator's --run-dir)")
    p.add_argument("--x", default="pr", help="column on the x axis (default pr)")
    p.add_argument("--y", default="mean_rate", help="column on the y axis (default mean_rate)")
    p.add_argument("--hue", default="neuron-model",
                   help="one line per value of this column (default neuron-model; '' for none)")
    p.add_argument("--query", default=None,
                   help="tasks to plot, in the smart filter's expression language "
                        "(e.g. \"neuron_model == 'HH-GH' and pr < 0.4\")")
    p.add_argument("--raster", metavar="TID", default=None,
                   help="plot the raster of this task instead of the sweep")
    p.add_argument("--voltage", metavar="TID", default=None,
                   help="plot the voltage of this task instead of the sweep")
    p.add_argument("--window", nargs=2, type=float, metavar=("T0", "T1"), default=None,
                   help="raster/voltage: only this time window (ms)")
    p.add_argument("--neurons", default=None, metavar="IDS",
                   help="raster/voltage: only these neurons (1-based: 1,3,5-8)")
    p.add_argument("-o", "--output", default="sweep.png", help="image file (default sweep.png)")
    return p


class _UsageError(Exception):
    pass


def _usage_error(parser):
    def error(message):
        raise _UsageError(message)
    parser.error = error
    return parser


def main(argv=None) -> int:
    """Entry point of `python -m neunet.plot`; returns the exit status."""
    parser = _usage_error(_parser())
    try:
        args = parser.parse_args(argv)
        fig = _cli_figure(args)
        fig.savefig(args.output, dpi=120)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except (_UsageError, ValueError, LookupError, OSError, AttributeError) as err:
        print(f"neunet.plot: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}")
    return 0


def _cli_figure(args):
    from neunet.store import StoreError, open_run

    try:
        run = open_run(args.run_dir)
        if args.raster or args.voltage:
            tid = run.resolve(args.raster or args.voltage)
            res = run.load(tid)
            neurons = neuron_list(args.neurons) if args.neurons else None
            title = task_title(run, tid, "raster" if args.raster else "voltage")
            if args.raster:
                return raster(res, title=title, window=args.window, neurons=neurons)
            return voltage(res, neurons=neurons, title=title, window=args.window)
        df = run.query(args.query) if args.query else run.table()
    except StoreError as err:
        raise ValueError(str(err)) from None
    if df.empty:
        raise ValueError("no tasks to plot")
    return sweep(df, x=args.x, y=args.y, hue=args.hue or None)


def task_title(run, tid: str, what: str) -> str:
    """``raster of task 1a2b3c4d5e6f: pr=1.5, ps=0.02``: the task's varying parameters."""
    table = run.table(varying=True)
    row = table[table["tid"] == tid]
    shown = [c for c in table.columns if c not in ("tid", "status", "real_s", "failure_class",
                                                    "reason") and not c.startswith("s:")]
    stats = set(run.summary(tid))
    parts = [f"{c}={row[c].iloc[0]}" for c in shown if c not in stats and len(row)]
    return f"{what} of task {tid[:12]}" + (f": {', '.join(parts)}" if parts else "")


if __name__ == "__main__":
    sys.exit(main())
