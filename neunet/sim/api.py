"""Assemble one simulation: options -> Problem, event source, sink -> engine.run; simulate().

``simulate(argv)`` is the in-process API (numpy arrays, no files); ``run_options`` is what
the command line uses with a ``FileSink``. Both go through ``options.parse_argv``, so the
two cannot disagree.
"""
from __future__ import annotations

import math

from neunet.sim import engine, engine_inputs, io, readers, readers_extra
from neunet.sim.models import HETEROGENEOUS
from neunet.sim.options import SimInputError, SimOptions, parse_argv
from neunet.sim.rng import PoissonSource

# Output keys simulate() can return (docs/design.md, "simulator outputs as arrays").
OUTPUT_KEYS = ("volt", "ras", "isi", "conductance", "ion_gate", "poisson")


def build_problem(opts: SimOptions, record=()) -> engine.Problem:
    """The engine Problem for `opts` (reads the network and initial-state files).

    Parameters
    ----------
    opts : SimOptions
    record : iterable of str
        Output kinds wanted; "conductance" and "ion_gate" switch on their recording
        (ion gates only for HH models).
    """
    n = opts.n
    post_ptr, post_idx, post_w = readers.read_net(opts.net, n, opts.sparse_net)
    initial = None
    if opts.initial_state_path:
        initial = readers.read_initial_state(opts.initial_state_path, n,
                                             engine.n_state_vars(opts.model))
    force_ids = force_times = None
    if opts.force_spike_path:
        force_ids, force_times = readers_extra.read_force_list(opts.force_spike_path, n,
                                                               not opts.quirks)
    return engine.Problem(
        model=opts.model, method=opts.method, nE=opts.nE, nI=opts.nI,
        post_ptr=post_ptr, post_idx=post_idx, post_w=post_w,
        scee=opts.scee, scie=opts.scie, scei=opts.scei, scii=opts.scii,
        dt=opts.dt_ms, t_warmup=opts.aligned_warmup_ms, n_steps=opts.n_steps,
        steps_per_sample=opts.steps_per_sample, T=opts.t_ms,
        delay=opts.delay_ms or 0.0, threshold=opts.threshold, refractory=opts.refractory_ms,
        sine_amp=opts.sine_amp, sine_freq=opts.sine_freq_khz,
        ext_current=opts.ext_current or 0.0, initial_state=initial, quirks=opts.quirks,
        first_row=opts.first_row, record_conductance="conductance" in record,
        record_ion_gate=opts.is_hh and "ion_gate" in record,
        delays=_delays(opts, post_ptr, post_idx), constants=_constants(opts),
        force_ids=force_ids, force_times=force_times)


def _delays(opts: SimOptions, post_ptr, post_idx):
    """Per-edge delays of --synaptic-net-delay (big-net-delay, IF-jump-delay), else None."""
    if not opts.net_delay_path or opts.method not in ("big-net-delay", "IF-jump-delay"):
        return None
    if opts.quirks:       # the reference takes any delay (smaller ones step backwards)
        low, why = -math.inf, "a delay must be a number"
    elif opts.method == "big-net-delay":
        low, why = opts.dt_ms, "big-net-delay needs delays of at least dt"
    else:
        low, why = 0.0, "delays cannot be negative"
    return readers_extra.read_delay_net(opts.net_delay_path, opts.n, post_ptr, post_idx, low,
                                        why)


def _constants(opts: SimOptions):
    """Per-neuron constants of --tau-g-path / --neuron-const-path, else None. With quirks
    and --synaptic-net-delay they are ignored, as the reference does."""
    if not (opts.tau_g_path or opts.neuron_const_path):
        return None
    if opts.quirks and opts.net_delay_path:
        return None
    tau_g = consts = None
    if opts.tau_g_path:
        tau_g = readers_extra.read_tau_g(opts.tau_g_path, opts.n)
    if opts.neuron_const_path:
        consts = readers_extra.read_neuron_consts(opts.neuron_const_path, opts.n,
                                                  HETEROGENEOUS[opts.model])
    return engine_inputs.constants_table(opts.model, opts.n, tau_g, consts)


def make_events(opts: SimOptions, on_events=None):
    """The event source: the --input-event-path file, else gen_neu's Poisson generator.

    Parameters
    ----------
    opts : SimOptions
    on_events : callable or None
        ``on_events(ids, times, strengths)`` receives each chunk's events in
        --output-poisson-path order.
    """
    if opts.input_event_path:
        ids, times, strengths = readers.read_events(opts.input_event_path, opts.n,
                                                    opts.per_neuron("ps"))
        return readers.FileEventSource(opts.n, ids, times, strengths, on_events)
    return _poisson(opts, on_events)


def _poisson(opts: SimOptions, on_events=None) -> PoissonSource:
    """gen_neu's Poisson generator for `opts` (its start-up draws done)."""
    return PoissonSource(opts.per_neuron("pr"), opts.per_neuron("pri"),
                         opts.per_neuron("ps"), opts.per_neuron("psi"), opts.seed, on_events)


def prepare(opts: SimOptions, record=(), on_events=None):
    """Read every input of `opts`: returns (Problem, event source). See build_problem and
    make_events; nothing is written.

    Hawkes-GH draws its thresholds from the Poisson generator's MT19937 after the start-up
    draws (which the reference makes even when an event file replaces the events): the
    Problem gets that state as ``mt``.
    """
    problem = build_problem(opts, record)
    events = make_events(opts, on_events)
    if opts.model == "Hawkes-GH":
        problem.mt = events.mt if isinstance(events, PoissonSource) else _poisson(opts).mt
    return problem, events


def run_options(opts: SimOptions, sink, record=()) -> engine.RunStats:
    """Run the simulation of `opts` into `sink` (which may also take ``events``).

    Raises
    ------
    SimInputError
        Bad input files.
    engine.SimulationError
        Runtime failure of the simulation.
    """
    on_events = getattr(sink, "events", None) if "poisson" in record else None
    return engine.run(*prepare(opts, record, on_events), sink)


def simulate(argv, outputs=("volt", "ras", "isi")) -> dict:
    """Run one simulation in this process and return its outputs as arrays (no files).

    Parameters
    ----------
    argv : sequence of str or SimOptions
        gen_neu arguments (output-path options are ignored).
    outputs : iterable of str
        Any of "volt", "ras", "isi", "conductance", "ion_gate", "poisson".

    Returns
    -------
    dict
        Only the requested keys (ion_gate only for HH models): volt (n, K), ras (k, 2),
        isi (n,), conductance (n, 2, K), ion_gate (n, 3, K), poisson (e, 3); see
        docs/design.md.

    Raises
    ------
    SimInputError
        Bad options or input files.
    engine.SimulationError
        Runtime failure of the simulation; its subclass SimUnstableError when the state
        became non-finite (the message names the neuron and the time, and says to try a
        smaller --dt).
    """
    outputs = tuple(outputs)
    unknown = [k for k in outputs if k not in OUTPUT_KEYS]
    if unknown:
        raise SimInputError(f"unknown output {unknown[0]!r} (choose from "
                            f"{', '.join(OUTPUT_KEYS)})")
    opts = argv if isinstance(argv, SimOptions) else parse_argv(argv)
    if not opts.is_hh:
        outputs = tuple(k for k in outputs if k != "ion_gate")
    sink = io.ArraySink(opts.n, opts.t_ms, outputs)
    run_options(opts, sink, outputs)
    result = sink.result()
    return {k: result[k] for k in outputs}


def output_paths(opts: SimOptions) -> dict:
    """Output kind -> path for the files the command line writes (ion gate only for HH)."""
    paths = {"volt": opts.volt_path, "ras": opts.ras_path, "isi": opts.isi_path,
             "conductance": opts.conductance_path,
             "ion_gate": opts.ion_gate_path if opts.is_hh else None,
             "poisson": opts.poisson_path}
    return {k: v for k, v in paths.items() if v is not None}
