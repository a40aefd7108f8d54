"""Numba whole-network evolution over one interval: every neuron through its events.

``evolve_all`` is the hot loop of every method's trial. Over a full dt, HH neurons with no
input event inside the step (and not just forced) take the quiet step in one vectorizable
loop over neurons; the others are put back. HH neurons with input events go through
``hh_rounds`` (all of them together, each to its next event or the step end per round);
just-forced HH neurons take the scalar per-event path of kernels_step. LIF-family networks
take the same way in kernels_lif. All paths share the same inlined arithmetic, so the result
does not depend on the path a neuron took (bit for bit).
"""
from numba import njit

from neunet.sim.kernels_lif import lif_evolve_all
from neunet.sim.kernels_neuron import (
    P_HET,
    P_QC,
    P_THRESH,
    P_TREF,
    RV,
    cond_coefs_vals,
    ext_current,
    hh_candidate,
    hh_rk4_vals,
    inject,
    is_hh,
)
from neunet.sim.kernels_step import evolve, hh_rk4, hh_spike_time

# Below this many neurons the scalar path is used for every neuron.
FAST_MIN_NEURONS = 4


@njit(cache=True, _nrt=False, error_model='numpy')
def hh_full_step(S, K1, I3, h, cfh):
    """Vectorizable mixed RK4 of every HH neuron over h (currents I3 = start, middle, end)."""
    for i in range(S.shape[1]):
        (S[0, i], S[1, i], S[2, i], S[3, i], S[4, i], S[5, i], S[6, i], S[7, i],
         K1[i]) = hh_rk4_vals(S[0, i], S[1, i], S[2, i], S[3, i], S[4, i], S[5, i], S[6, i],
                              S[7, i], I3[0, i], I3[1, i], I3[2, i], h, cfh)


@njit(cache=True, _nrt=False)
def _mark_exceptions(S, rc, flag, cur, b, ev_ptr, ev_t, mask, exc, tref, h):
    """Flag the neurons that need the scalar path: input inside the step, refractory clock
    running out inside it (tref - rc < h), just forced."""
    ne = 0
    for i in range(S.shape[1]):
        k = cur[i]
        if (k < ev_ptr[i + 1] and ev_t[k] < b) or (rc[i] > 0.0 and tref - rc[i] < h) \
                or flag[i]:
            mask[i] = 1
            exc[ne] = i
            ne += 1
    return ne


@njit(cache=True, _nrt=False)
def _currents(I3, cur_kind, par, a, h):
    """External currents of every neuron at the start, middle and end of the step."""
    for i in range(I3.shape[1]):
        I3[0, i] = ext_current(cur_kind, par, i, a)
        I3[1, i] = ext_current(cur_kind, par, i, a + 0.5 * h)
        I3[2, i] = ext_current(cur_kind, par, i, a + h)


@njit(cache=True, _nrt=False)
def _check_spikes(S, S0, K1, I3, a, h, ctx, mask, exc, ne, buf_t, buf_i, nb):
    """Spike detection for the vector-stepped HH neurons."""
    (ev_ptr, ev_t, ev_s, model, cur_kind, par, quirks, dt, cf_dt) = ctx
    th = par[P_THRESH]
    for i in range(S.shape[1]):
        if mask[i]:
            continue
        v0, v1, k1 = S0[RV, i], S[RV, i], K1[i]
        if hh_candidate(model, v0, v1, k1, th):
            ts = hh_spike_time(S, i, a, h, v0, v1, k1, I3[2, i], model, cur_kind, par, quirks)
            if ts >= 0.0:
                buf_t[nb], buf_i[nb] = a + ts, i
                nb += 1
    return ne, nb


@njit(cache=True, _nrt=False)
def evolve_all_scalar(S, rc, flag, cur, a, b, ctx, buf_t, buf_i):
    """evolve_all one neuron at a time (see scalar_all)."""
    return scalar_all(S, rc, flag, cur, a, b, ctx, buf_t, buf_i)


@njit(cache=True, inline='always')
def scalar_all(S, rc, flag, cur, a, b, ctx, buf_t, buf_i):
    """evolve_all one neuron at a time; a full quiet dt skips the per-event machinery.

    Inlined into the chunk loop for small networks: every call level costs ~100 ns here.
    """
    (ev_ptr, ev_t, ev_s, model, cur_kind, par, quirks, dt, cf_dt) = ctx
    nb, err = 0, 0
    th = par[P_THRESH]
    het = par[P_HET] != 0.0
    for i in range(S.shape[1]):
        k = cur[i]
        busy = ((k < ev_ptr[i + 1] and ev_t[k] < b) or b - a != dt or flag[i] or rc[i] > 0.0
                or het)
        if not busy and is_hh(model):
            par[P_QC] += 1.0
            v0, v1, k1, c1 = hh_rk4(S, i, a, dt, cur_kind, par, cf_dt)
            if hh_candidate(model, v0, v1, k1, th):
                ts = hh_spike_time(S, i, a, dt, v0, v1, k1, c1, model, cur_kind, par, quirks)
                if ts >= 0.0:
                    buf_t[nb], buf_i[nb] = a + ts, i
                    nb += 1
        else:
            nb, err = evolve(S, rc, flag, cur, i, a, b, ev_ptr, ev_t, ev_s, model, cur_kind,
                             par, quirks, dt, cf_dt, buf_t, buf_i, nb)
            if err:
                break
    return nb, err


@njit(cache=True, _nrt=False, error_model='numpy')
def _round_rk4(R, K1, I3, W, m, model, quirks, dt, cf_dt):
    """Vectorizable part of a round: quiet step of each listed neuron over its own h = W[1].

    R holds the listed neurons' state (compact); h <= 0 leaves a neuron unchanged, h == dt
    reuses cf_dt, exactly as kernels_step.quiet.
    """
    c0, c1, c2, c3, c4, c5 = cf_dt
    for p in range(m):
        h = W[1, p]
        a0, a1, a2, a3, a4, a5 = cond_coefs_vals(model, 0.5 * h, quirks)
        full = h == dt
        cfh = (c0 if full else a0, c1 if full else a1, c2 if full else a2,
               c3 if full else a3, c4 if full else a4, c5 if full else a5)
        v, x, y, z, ge, gi, he, hi, k1 = hh_rk4_vals(
            R[0, p], R[1, p], R[2, p], R[3, p], R[4, p], R[5, p], R[6, p], R[7, p],
            I3[0, p], I3[1, p], I3[2, p], h, cfh)
        go = h > 0.0
        R[0, p] = v if go else R[0, p]
        R[1, p] = x if go else R[1, p]
        R[2, p] = y if go else R[2, p]
        R[3, p] = z if go else R[3, p]
        R[4, p] = ge if go else R[4, p]
        R[5, p] = gi if go else R[5, p]
        R[6, p] = he if go else R[6, p]
        R[7, p] = hi if go else R[7, p]
        K1[p] = k1


@njit(cache=True, _nrt=False)
def _round_gather(S, R, I3, W, lst, m, cur, b, ev_ptr, ev_t, cur_kind, par):
    """Start of a round: each listed neuron's h (to its next event or b), state, currents."""
    for p in range(m):
        i = lst[p]
        k = cur[i]
        e = ev_t[k] if (k < ev_ptr[i + 1] and ev_t[k] < b) else b
        t0 = W[0, p]
        h = e - t0
        W[1, p] = h
        W[2, p] = S[RV, i]
        for r in range(8):
            R[r, p] = S[r, i]
        I3[0, p] = ext_current(cur_kind, par, i, t0)
        I3[1, p] = ext_current(cur_kind, par, i, t0 + 0.5 * h)
        I3[2, p] = ext_current(cur_kind, par, i, t0 + h)


@njit(cache=True, _nrt=False)
def hh_rounds(S, cur, lst, m, a, b, ctx, R, K1, I3, W, buf_t, buf_i, nb):
    """Evolve the m HH neurons lst[:m] (not just forced) from a to b through their events.

    Equivalent to kernels_step.evolve of each, but in rounds: every round advances all
    remaining neurons together, each to its next event (then applies it) or to b (then the
    neuron leaves the list). Returns the new buffer count.
    """
    (ev_ptr, ev_t, ev_s, model, cur_kind, par, quirks, dt, cf_dt) = ctx
    th = par[P_THRESH]
    for p in range(m):
        W[0, p] = a
    while m > 0:
        par[P_QC] += m
        _round_gather(S, R, I3, W, lst, m, cur, b, ev_ptr, ev_t, cur_kind, par)
        _round_rk4(R, K1, I3, W, m, model, quirks, dt, cf_dt)
        q = 0
        for p in range(m):
            i, t0, h = lst[p], W[0, p], W[1, p]
            for r in range(8):
                S[r, i] = R[r, p]
            if h > 0.0 and hh_candidate(model, W[2, p], R[0, p], K1[p], th):
                ts = hh_spike_time(S, i, t0, h, W[2, p], R[0, p], K1[p], I3[2, p], model,
                                   cur_kind, par, quirks)
                if ts >= 0.0:
                    buf_t[nb], buf_i[nb] = t0 + ts, i
                    nb += 1
            k = cur[i]
            if k < ev_ptr[i + 1] and ev_t[k] < b:
                if h > 0.0:
                    t0 = ev_t[k]
                inject(S, i, ev_s[k], model)
                cur[i] = k + 1
                lst[q], W[0, q] = i, t0
                q += 1
        m = q
    return nb


@njit(cache=True, inline='always')
def evolve_all(S, rc, flag, cur, a, b, ctx, buf_t, buf_i, scr):
    """Evolve every neuron from a to b; spikes appended to buf: (count, err).

    Inlined into the methods: a call level with this many array arguments cost ~0.5 us per
    step (a third of a 100-neuron LIF step).
    """
    model, par, dt = ctx[3], ctx[5], ctx[7]
    if S.shape[1] < FAST_MIN_NEURONS or b - a != dt or par[P_HET] != 0.0:
        return evolve_all_scalar(S, rc, flag, cur, a, b, ctx, buf_t, buf_i)
    if not is_hh(model):
        return lif_evolve_all(S, rc, cur, a, b, ctx, buf_t, buf_i, scr)
    return hh_evolve_all(S, rc, flag, cur, a, b, ctx, buf_t, buf_i, scr)


@njit(cache=True, _nrt=False)
def hh_evolve_all(S, rc, flag, cur, a, b, ctx, buf_t, buf_i, scr):
    """evolve_all of a homogeneous HH network over a full dt (b - a == dt, at least
    FAST_MIN_NEURONS neurons)."""
    (ev_ptr, ev_t, ev_s, model, cur_kind, par, quirks, dt, cf_dt) = ctx
    n = S.shape[1]
    nb, err = 0, 0
    S0, K1, I3, mask, exc, W = scr
    for i in range(n):
        for r in range(8):
            S0[r, i] = S[r, i]
    ne = _mark_exceptions(S, rc, flag, cur, b, ev_ptr, ev_t, mask, exc, par[P_TREF], dt)
    if cur_kind != 0:
        _currents(I3, cur_kind, par, a, dt)
    hh_full_step(S, K1, I3, dt, cf_dt)
    ne, nb = _check_spikes(S, S0, K1, I3, a, dt, ctx, mask, exc, ne, buf_t, buf_i, nb)
    par[P_QC] += n - ne
    m = 0
    for e in range(ne):
        i = exc[e]
        mask[i] = 0
        for r in range(8):
            S[r, i] = S0[r, i]
        if not flag[i]:
            exc[m] = i            # m <= e: the rounds list reuses exc in place
            m += 1
        elif not err:
            nb, err = evolve(S, rc, flag, cur, i, a, b, ev_ptr, ev_t, ev_s, model, cur_kind,
                             par, quirks, dt, cf_dt, buf_t, buf_i, nb)
    if m:
        nb = hh_rounds(S, cur, exc, m, a, b, ctx, S0, K1, I3, W, buf_t, buf_i, nb)
    return nb, err
