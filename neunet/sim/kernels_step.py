"""Numba quiet steps of one neuron (LIF and HH families) and evolving a neuron through its events.

A quiet step advances neuron i over h ms with no input inside the interval (spec 7.2, 8.4, 8.5)
and returns the local spike time (>= 0) or -1. ``evolve`` takes the neuron's pending input
events with time < b in order (quiet step to each, then the increment) and finishes with a
quiet step to b, appending found spikes (absolute time, id) to a buffer.

Functions that allocate nothing are compiled with ``_nrt=False`` (here, in kernels_fast and
kernels_methods): without it every call increfs and decrefs each array argument atomically,
which was ~30 % of the SSC time (slice assignment and allocation need the NRT, so the
functions doing those keep it).
"""
from numba import njit

from neunet.sim.kernels_hermite import hermite_peak, hermite_root
from neunet.sim.kernels_neuron import (
    CUR_NONE,
    CUR_SINE,
    DBL_MIN,
    HH_KH,
    HH_PT,
    LIF_KF,
    LIF_VRESET,
    P_HET,
    P_QC,
    P_THRESH,
    P_TREF,
    RGE,
    RGI,
    RH,
    RHE,
    RHI,
    RM,
    RN,
    RV,
    advance_cond,
    cond_coefs,
    ext_current,
    het_hh,
    het_lif,
    het_taus,
    hh_candidate,
    hh_coefs,
    hh_f_k,
    hh_rk4_vals_k,
    inject,
    inject_rows,
    is_hh,
    lif_candidate,
    lif_coefs,
    lif_f_k,
    lif_rk4_vals_k,
    lif_taus,
)

# Run status of the chunk kernels: ok, two spikes of a neuron in one dt (evolve's err 1),
# spike buffer overflow, raster arrays full, delay queues too short (3 and 4: the engine
# enlarges them and resumes the chunk).
ST_OK, ST_MULTI, ST_TOO_MANY, ST_OUT_FULL, ST_QUEUE_FULL = 0, 1, 2, 3, 4

@njit(cache=True, inline='always')
def lif_rk4(S, i, h, model, cfh, kf):
    """Mixed RK4 of V over h (conductances exact, written back): returns (v0, v1, k1)."""
    v0 = S[RV, i]
    v1, S[RGE, i], S[RGI, i], S[RHE, i], S[RHI, i], k1 = lif_rk4_vals_k(
        model, v0, S[RGE, i], S[RGI, i], S[RHE, i], S[RHI, i], h, cfh, kf)
    return v0, v1, k1


@njit(cache=True, inline='always')
def lif_lc(model, par):
    """Constants of a LIF-family quiet step (threshold, T_ref, V_reset, kf, taus) for the
    model's standard constants (het_lif gives those of one neuron of a heterogeneous net)."""
    return par[P_THRESH], par[P_TREF], LIF_VRESET, LIF_KF, lif_taus(model)


@njit(cache=True, _nrt=False)
def lif_spike_time(S, i, model, v0, v1, k1, th, h, quirks, kf):
    """Local spike time of an active LIF step already taken (state at its end), or -1."""
    if not lif_candidate(v0, v1, k1, th, h):
        return -1.0
    d1 = lif_f_k(model, v1, S[RGE, i], S[RGI, i], kf)
    return hermite_root(v0, v1, k1, d1, th, h, quirks)


@njit(cache=True, _nrt=False)
def lif_finish(S, rc, i, h, v0, v1, k1, model, lc, quirks):
    """End an active LIF step already taken: spike, reset, wake-up inside the step.

    lc = (threshold, T_ref, V_reset, kf, taus) (lif_lc). Returns (local spike time or -1,
    err); err 1 = a second spike in the same step.
    """
    th, tref, vreset, kf, taus = lc
    ts = lif_spike_time(S, i, model, v0, v1, k1, th, h, quirks, kf)
    if ts < 0.0:
        S[RV, i] = v1
        return -1.0, 0
    r = h - ts + DBL_MIN
    S[RV, i] = vreset
    if r < tref:
        rc[i] = r
        return ts, 0
    e = r - tref
    rc[i] = 0.0
    advance_cond(S, i, lif_coefs(model, -e, taus))
    v0, v1, k1 = lif_rk4(S, i, e, model, lif_coefs(model, 0.5 * e, taus), kf)
    if lif_spike_time(S, i, model, v0, v1, k1, th, e, quirks, kf) >= 0.0:
        return ts, 1
    S[RV, i] = v1
    return ts, 0


@njit(cache=True, inline='always')
def lif_active(S, rc, i, h, model, lc, quirks, cfh):
    """Active LIF step with reset and wake-up inside the step: (local spike time or -1, err)."""
    v0, v1, k1 = lif_rk4(S, i, h, model, cfh, lc[3])
    if not lif_candidate(v0, v1, k1, lc[0], h):
        S[RV, i] = v1
        return -1.0, 0
    return lif_finish(S, rc, i, h, v0, v1, k1, model, lc, quirks)


@njit(cache=True, _nrt=False)
def lif_refractory(S, rc, i, h, model, lc, quirks):
    """LIF quiet step of a refractory neuron (r > 0): stays clamped or wakes up inside."""
    r = rc[i]
    q = lc[1] - r
    if q < h:
        advance_cond(S, i, lif_coefs(model, q, lc[4]))
        rc[i] = 0.0
        ts, err = lif_active(S, rc, i, h - q, model, lc, quirks,
                             lif_coefs(model, 0.5 * (h - q), lc[4]))
        if ts >= 0.0 and not quirks:
            ts += q
        return ts, err
    advance_cond(S, i, lif_coefs(model, h, lc[4]))
    rc[i] = r + h
    return -1.0, 0


@njit(cache=True, inline='always')
def hh_rk4(S, i, t0, h, cur_kind, par, cfh):
    """Mixed RK4 of neuron i over h, written back: returns (v0, v1, k1v, I at t0+h)."""
    return hh_rk4_k(S, i, t0, h, cur_kind, par, cfh, HH_KH)


@njit(cache=True, inline='always')
def hh_rk4_k(S, i, t0, h, cur_kind, par, cfh, kh):
    """hh_rk4 with the HH constants kh."""
    v0 = S[RV, i]
    c1 = ext_current(cur_kind, par, i, t0 + h)
    (S[RV, i], S[RH, i], S[RM, i], S[RN, i], S[RGE, i], S[RGI, i], S[RHE, i], S[RHI, i],
     k1) = hh_rk4_vals_k(v0, S[RH, i], S[RM, i], S[RN, i], S[RGE, i], S[RGI, i], S[RHE, i],
                         S[RHI, i], ext_current(cur_kind, par, i, t0),
                         ext_current(cur_kind, par, i, t0 + 0.5 * h), c1, h, cfh, kh)
    return v0, S[RV, i], k1, c1


@njit(cache=True, _nrt=False)
def hh_spike_time(S, i, t0, h, v0, v1, k1, c1, model, cur_kind, par, quirks):
    """Local spike time of a candidate HH quiet step already taken (state at its end), or -1."""
    return hh_spike_time_k(S, i, t0, h, v0, v1, k1, c1, model, cur_kind, par, quirks,
                           par[P_THRESH], HH_KH)


@njit(cache=True, _nrt=False)
def hh_spike_time_k(S, i, t0, h, v0, v1, k1, c1, model, cur_kind, par, quirks, th, kh):
    """hh_spike_time with the threshold th and HH constants kh."""
    if quirks and cur_kind == CUR_SINE:
        c1 = ext_current(cur_kind, par, i, t0)
    d1 = hh_f_k(v1, S[RH, i], S[RM, i], S[RN, i], S[RGE, i], S[RGI, i], c1, kh)[0]
    if model == HH_PT:
        if d1 >= 0.0:
            return -1.0
        return hermite_peak(v0, v1, k1, d1, h, quirks)
    return hermite_root(v0, v1, k1, d1, th, h, quirks)


@njit(cache=True, _nrt=False)
def quiet(S, rc, flag, i, t0, h, model, cur_kind, par, quirks, dt, cf_dt):
    """One quiet step of neuron i from absolute time t0 over h: (local spike time or -1, err).

    cf_dt are the propagator coefficients over dt/2, reused when h == dt. Zero h changes
    nothing, nor does a negative one, except with quirks: the reference integrates it
    backwards (a big-net-delay kick delivered after its time has passed). Counts the call in
    par[P_QC] (the reference's NoInteractDt counter).
    """
    par[P_QC] += 1.0
    if not h > 0.0 and not (quirks and h < 0.0):
        return -1.0, 0
    if par[P_HET] != 0.0:
        return quiet_het(S, rc, flag, i, t0, h, model, par, quirks)
    cfh = cf_dt if h == dt else cond_coefs(model, 0.5 * h, quirks)
    if is_hh(model):
        v0, v1, k1, c1 = hh_rk4(S, i, t0, h, cur_kind, par, cfh)
        ts = -1.0
        if hh_candidate(model, v0, v1, k1, par[P_THRESH]):
            ts = hh_spike_time(S, i, t0, h, v0, v1, k1, c1, model, cur_kind, par, quirks)
        if flag[i]:
            flag[i] = 0 if h > 0.0 else 1
            ts = -1.0
        return ts, 0
    if rc[i] > 0.0:
        return lif_refractory(S, rc, i, h, model, lif_lc(model, par), quirks)
    return lif_active(S, rc, i, h, model, lif_lc(model, par), quirks, cfh)


@njit(cache=True, _nrt=False)
def quiet_het(S, rc, flag, i, t0, h, model, par, quirks):
    """quiet (h != 0) for a heterogeneous network: neuron i's own constants from par."""
    if is_hh(model):
        th, kh = het_hh(par, i)
        cfh = hh_coefs(0.5 * h, het_taus(par, i), quirks)
        v0, v1, k1, c1 = hh_rk4_k(S, i, t0, h, CUR_NONE, par, cfh, kh)
        ts = -1.0
        if hh_candidate(model, v0, v1, k1, th):
            ts = hh_spike_time_k(S, i, t0, h, v0, v1, k1, c1, model, CUR_NONE, par, quirks,
                                 th, kh)
        if flag[i]:
            flag[i] = 0 if h > 0.0 else 1
            ts = -1.0
        return ts, 0
    lc = het_lif(par, i)
    if rc[i] > 0.0:
        return lif_refractory(S, rc, i, h, model, lc, quirks)
    return lif_active(S, rc, i, h, model, lc, quirks, lif_coefs(model, 0.5 * h, lc[4]))


@njit(cache=True, _nrt=False)
def force_reset(S, rc, flag, i, model, par, quirks):
    """Forced reset (SSC, force list): LIF V := V_reset and refractory; HH only sets the
    just-forced flag. A heterogeneous neuron resets to its own V_reset (with quirks to the
    standard one, as the reference does)."""
    if is_hh(model):
        flag[i] = 1
    else:
        het = par[P_HET] != 0.0 and not quirks
        S[RV, i] = het_lif(par, i)[2] if het else LIF_VRESET
        rc[i] = DBL_MIN


@njit(cache=True, _nrt=False)
def evolve(S, rc, flag, cur, i, a, b, ev_ptr, ev_t, ev_s, model, cur_kind, par, quirks,
           dt, cf_dt, buf_t, buf_i, nb):
    """Evolve neuron i from a to b through its pending events (< b); spikes appended to buf.

    Returns (new buffer count, err); err 1 = "Multiple spikes in one dt".
    """
    t = a
    k = cur[i]
    stop = ev_ptr[i + 1]
    while k < stop and ev_t[k] < b:
        e = ev_t[k]
        ts, err = quiet(S, rc, flag, i, t, e - t, model, cur_kind, par, quirks, dt, cf_dt)
        if ts >= 0.0:
            buf_t[nb] = t + ts
            buf_i[nb] = i
            nb += 1
        if err:
            cur[i] = k
            return nb, err
        if e > t:
            t = e
        inject(S, i, ev_s[k], model)
        k += 1
    cur[i] = k
    ts, err = quiet(S, rc, flag, i, t, b - t, model, cur_kind, par, quirks, dt, cf_dt)
    if ts >= 0.0:
        buf_t[nb] = t + ts
        buf_i[nb] = i
        nb += 1
    return nb, err


@njit(cache=True, _nrt=False)
def sort_spikes(buf_t, buf_i, nb):
    """Insertion sort of the first nb buffered spikes by (time, id)."""
    for a in range(1, nb):
        t, j = buf_t[a], buf_i[a]
        b = a - 1
        while b >= 0 and (buf_t[b] > t or (buf_t[b] == t and buf_i[b] > j)):
            buf_t[b + 1] = buf_t[b]
            buf_i[b + 1] = buf_i[b]
            b -= 1
        buf_t[b + 1] = t
        buf_i[b + 1] = j


@njit(cache=True, _nrt=False)
def deliver(S, j, nE, post_ptr, post_idx, post_w, sc, use_w, model):
    """Apply the synaptic increments of a spike of neuron j to its post-synaptic neurons."""
    re, ri = inject_rows(model)
    for e in range(post_ptr[j], post_ptr[j + 1]):
        i = post_idx[e]
        if j < nE:
            s = sc[0] if i < nE else sc[1]
            row = re
        else:
            s = sc[2] if i < nE else sc[3]
            row = ri
        S[row, i] += post_w[e] * s if use_w else s
