"""The --verbose-echo report, in gen_neu's layout: parameters before the run, spike counts and
the quiet-step count after it.

``header`` returns the lines gen_neu prints before simulating (random seed, delay kind,
IF-jump's dt warning, the loaded initial state, model, neurons, the top-left of the net,
the input rates and strengths, coupling, external events, simulator and times); ``footer``
the lines after (the first neurons' spike counts and ``# of calls to NoInteractDt():``).
Numbers use the reference's printf formats.
"""
from __future__ import annotations

import math

import numpy as np

# The report shows at most this many neurons (rows and columns of the net, list values).
SHOW_N = 10


def _row(values, fmt="% 8.2g"):
    """One line of values in a printf format, as the reference's loops print them."""
    return "".join(fmt % v for v in values)


def _net_lines(problem, n, show):
    """Edge count line and the top-left show x show block of A (A[i][j]: from j to i)."""
    dense = np.zeros((show, show))
    for j in range(show):
        for e in range(problem.post_ptr[j], problem.post_ptr[j + 1]):
            i = problem.post_idx[e]
            if i < show:
                dense[i, j] = problem.post_w[e]
    n_nz, n_nm = int(problem.post_idx.size), (n - 1) * n
    share = 100.0 * n_nz / n_nm if n_nm else -math.nan
    share_txt = "-nan" if math.isnan(share) else "%.2g" % share
    lines = [f"Network: number of edges = {n_nz}/{n_nm} ({share_txt} %)"]
    lines += [_row(dense[i]) for i in range(show)]
    return lines


def _input_lines(opts, show):
    """pr and ps lines, and pri and psi when any psi is not 0."""
    lines = []
    names = ("pr", "ps", "pri", "psi") if any(opts.per_neuron("psi")) else ("pr", "ps")
    for name in names:
        lines += [f"{name}:" if len(name) == 3 else f"{name} :",
                  _row(opts.per_neuron(name)[:show])]
    return lines


def _time_line(opts):
    """The simulator's time line: t (with warm-up), dt, stv and the steps per sample."""
    tw, m = opts.aligned_warmup_ms, opts.steps_per_sample
    rest = "dt = %.2g ms, stv = %.2g ms (%d dt)" % (opts.dt_ms, opts.stv_ms, m)
    if tw > 0:
        return "  t = %.2g (warming-up) + %.2g ms, %s" % (tw, opts.t_ms, rest)
    return "  t = %.2g ms, %s" % (opts.t_ms, rest)


def _preamble(opts, problem):
    """Lines gen_neu prints before the parameter block."""
    lines = []
    if opts.seed is not None:
        lines.append("Random seed:" + "".join(f" {v}" for v in opts.seed))
    if opts.model == "IF-jump" and problem.delays is not None and opts.net_delay_path:
        d = problem.delays
        lines.append("  Constant delay." if d.size == 0 or np.all(d == d[0])
                     else "  Non-constant delay.")
    if opts.model == "IF-jump" and opts.stv_ms > opts.dt_ms and opts.dt_ms < 1:
        lines.append("Warning: dt (%g ms) < stv (%g ms) in IF-jump model, which is "
                     "pointless. Use a larger dt please." % (opts.dt_ms, opts.stv_ms))
    if opts.initial_state_path:
        lines.append("Initial state loaded.")
    return lines


def header(opts, problem, n_file_events=None) -> str:
    """The report printed before the run (n_file_events: events of --input-event-path)."""
    n = opts.n
    show = min(SHOW_N, n)
    lines = _preamble(opts, problem)
    lines += [f'Model: "{opts.model}"', f"Number of neurons: {opts.nE} E + {opts.nI} I"]
    lines += _net_lines(problem, n, show)
    lines += _input_lines(opts, show)
    lines += ["", "     scee     scie     scei     scii",
              " %8.3g %8.3g %8.3g %8.3g" % (opts.scee, opts.scie, opts.scei, opts.scii)]
    if n_file_events is not None:
        lines += ["", f"Number of external events: {n_file_events}"]
    lines += ["", f'Simulator: "{opts.method}"', _time_line(opts)]
    if n_file_events is not None:
        lines.append(f"  Imported events: {n_file_events}")
    return "\n".join(lines) + "\n"


def footer(spike_counts, quiet_steps: int) -> str:
    """The report printed after the run."""
    shown = "".join(" %7d" % c for c in np.asarray(spike_counts)[:SHOW_N])
    return f"Number of spikes:\n{shown}\n# of calls to NoInteractDt(): {quiet_steps}\n"
