"""Numba full-dt step of a LIF-family network: one fused vector pass, then input events in rounds.

``lif_evolve_all`` is kernels_fast.evolve_all for LIF-G, LIF-GH and DIF-single-GH over a full
dt. One vectorizable pass advances every neuron that has no input event inside the step, no
refractory wake-up inside it and no spike candidate, and marks the others (the exceptions),
whose state it leaves untouched. The exceptions then go through their input events in rounds,
like kernels_fast.hh_rounds: every round advances all of them together, each to its next event
or to the step end, in a vectorizable loop over a compact copy of their state; spikes, resets
and wake-ups inside an interval take the scalar functions of kernels_step. The arithmetic is
the same inlined code as kernels_step.quiet, so the state and the spikes are bit for bit those
of evolving each neuron alone (kernels_step.evolve).
"""
from numba import njit

from neunet.sim.kernels_neuron import (
    LIF_NEAR,
    P_QC,
    P_THRESH,
    P_TREF,
    RGE,
    RGI,
    RHE,
    RHI,
    RV,
    cond_coefs,
    cond_coefs_vals,
    cond_vals,
    inject,
    lif_candidate,
    lif_rk4_vals,
)
from neunet.sim.kernels_step import lif_finish, lif_lc, lif_refractory

# Vector width the round lists are padded to (lanes past the list compute on stale values,
# unused): a short list would otherwise run entirely in the loop's scalar remainder.
ROUND_PAD = 8


@njit(cache=True, inline='always')
def pad(m):
    """m rounded up to a multiple of ROUND_PAD."""
    return (m + ROUND_PAD - 1) // ROUND_PAD * ROUND_PAD


@njit(cache=True, _nrt=False, error_model='numpy')
def lif_pass(V, GE, GI, HE, HI, rc, cur, ev_ptr, ev_t, mask, model, b, h, th, tref, cfh,
             cf_full):
    """Quiet full step (over h, ending at b) of every neuron that is not an exception.

    An exception (mask[i] = 1, state unchanged) has an input event before b, a refractory
    clock running out inside the step, or may spike: V crosses th, or starts above LIF_NEAR,
    rising, with v0 + k1*h >= th. That is a superset of kernels_step.lif_candidate, whose
    divisions would slow the loop: its parabola peaks at v0 + k1*tv/2 with tv < h, and
    rounding is monotonic; the rounds decide exactly. Neurons refractory for the whole step
    advance their conductances by the propagator over h (cf_full) and their clock. The state
    comes as one 1-d array per variable (rows of S): indexing the 2-d S, or reading the
    events, inside the second loop keeps LLVM from vectorizing it.
    """
    for i in range(V.shape[0]):
        k = cur[i]
        mask[i] = k < ev_ptr[i + 1] and ev_t[k] < b
    for i in range(V.shape[0]):
        v0, ge0, gi0, he0, hi0 = V[i], GE[i], GI[i], HE[i], HI[i]
        v, ge, gi, he, hi, k1 = lif_rk4_vals(model, v0, ge0, gi0, he0, hi0, h, cfh)
        gef, gif, hef, hif = cond_vals(ge0, gi0, he0, hi0, cf_full)
        r = rc[i]
        refr = r > 0.0
        spike = ((v0 <= th) & (v > th)) | ((v0 > LIF_NEAR) & (k1 > 0.0) & (v0 + k1 * h >= th))
        exc = (mask[i] != 0) | (refr & (tref - r < h)) | ((not refr) & spike)
        V[i] = v0 if (refr | exc) else v
        GE[i] = ge0 if exc else (gef if refr else ge)
        GI[i] = gi0 if exc else (gif if refr else gi)
        HE[i] = he0 if exc else (hef if refr else he)
        HI[i] = hi0 if exc else (hif if refr else hi)
        rc[i] = r + h if (refr & (not exc)) else r
        mask[i] = exc


@njit(cache=True, inline='always')
def _collect(mask, exc):
    """Indices of the marked neurons into exc (marks cleared); returns their count."""
    ne = 0
    for i in range(mask.shape[0]):
        exc[ne] = i
        ne += mask[i]
        mask[i] = 0
    return ne


@njit(cache=True, inline='always')
def _round_gather(S, rc, R, W, lst, m, cur, b, ev_ptr, ev_t):
    """Start of a round: each listed neuron's h (to its next event or b), state and clock."""
    for p in range(m):
        i = lst[p]
        k = cur[i]
        e = ev_t[k] if (k < ev_ptr[i + 1] and ev_t[k] < b) else b
        W[1, p] = e - W[0, p]
        W[2, p] = rc[i]
        R[0, p], R[1, p], R[2, p] = S[RV, i], S[RGE, i], S[RGI, i]
        R[3, p], R[4, p] = S[RHE, i], S[RHI, i]


@njit(cache=True, inline='always')
def _round_steps(V, GE, GI, HE, HI, K1, H, RC, m, model, quirks):
    """Vectorizable part of a round: each listed neuron's interval over its own h = H[p].

    An active neuron (RC[p] == 0) takes the mixed RK4 step of kernels_step.lif_active (V,
    gE, gI, HE, HI in and out, K1); a refractory one only the propagation of its
    conductances over h, as kernels_step.lif_refractory when it does not wake up (the
    scalar part redoes a wake-up). One 1-d array per variable, as in lif_pass.
    """
    for p in range(m):
        h = H[p]
        refr = RC[p] > 0.0
        v0, ge0, gi0, he0, hi0 = V[p], GE[p], GI[p], HE[p], HI[p]
        cf = cond_coefs_vals(model, h if refr else 0.5 * h, quirks)
        v, ge, gi, he, hi, k1 = lif_rk4_vals(model, v0, ge0, gi0, he0, hi0, h, cf)
        gef, gif, hef, hif = cond_vals(ge0, gi0, he0, hi0, cf)
        V[p] = v0 if refr else v
        GE[p] = gef if refr else ge
        GI[p] = gif if refr else gi
        HE[p] = hef if refr else he
        HI[p] = hif if refr else hi
        K1[p] = k1


@njit(cache=True, inline='always')
def _finish_one(S, rc, i, h, R, K1, p, model, lc, quirks):
    """Scalar part of neuron i's interval (list entry p): (local spike time or -1, err).

    lc = kernels_step.lif_lc(model, par), the model's constants."""
    r = rc[i]
    if r > 0.0 and lc[1] - r < h:
        return lif_refractory(S, rc, i, h, model, lc, quirks)
    v0, v1, k1 = S[RV, i], R[0, p], K1[p]
    S[RGE, i], S[RGI, i], S[RHE, i], S[RHI, i] = R[1, p], R[2, p], R[3, p], R[4, p]
    if r > 0.0:
        rc[i] = r + h
        return -1.0, 0
    if not lif_candidate(v0, v1, k1, lc[0], h):
        S[RV, i] = v1
        return -1.0, 0
    return lif_finish(S, rc, i, h, v0, v1, k1, model, lc, quirks)


@njit(cache=True, inline='always')
def _round_finish(S, rc, cur, lst, m, b, ctx, lc, R, K1, W, buf_t, buf_i, nb):
    """End of a round: scalar part of each listed neuron's interval, then its next event.

    Neurons with an event left before b are kept in lst (in order, with their new start
    time in W[0]) and get the event's input. Returns (neurons kept, new buffer count, err).
    """
    ev_ptr, ev_t, ev_s, model, quirks = ctx[0], ctx[1], ctx[2], ctx[3], ctx[6]
    q = 0
    for p in range(m):
        i, t0, h = lst[p], W[0, p], W[1, p]
        if h > 0.0:
            ts, err = _finish_one(S, rc, i, h, R, K1, p, model, lc, quirks)
            if ts >= 0.0:
                buf_t[nb], buf_i[nb] = t0 + ts, i
                nb += 1
            if err:
                return q, nb, err
        k = cur[i]
        if k < ev_ptr[i + 1] and ev_t[k] < b:
            if h > 0.0:
                t0 = ev_t[k]
            inject(S, i, ev_s[k], model)
            cur[i] = k + 1
            lst[q], W[0, q] = i, t0
            q += 1
    return q, nb, 0


@njit(cache=True, _nrt=False, error_model='numpy')
def lif_rounds(S, rc, cur, lst, m, a, b, ctx, R, K1, W, buf_t, buf_i, nb):
    """Evolve the m LIF neurons lst[:m] from a to b through their input events.

    Equivalent to kernels_step.evolve of each, in rounds: every round advances all remaining
    neurons together, each to its next event (then applies it) or to b (then the neuron
    leaves the list). Each listed neuron's interval counts as a quiet step in par[P_QC] (as
    kernels_step.quiet counts them). Returns (new buffer count, err); err 1 = "Multiple
    spikes in one dt".
    """
    for p in range(m):
        W[0, p] = a
    return lif_rounds_from(S, rc, cur, lst, m, b, ctx, R, K1, W, buf_t, buf_i, nb)


@njit(cache=True, _nrt=False, error_model='numpy')
def lif_rounds_from(S, rc, cur, lst, m, b, ctx, R, K1, W, buf_t, buf_i, nb):
    """lif_rounds with each listed neuron's own start time in W[0, :m] (lst is reused)."""
    ev_ptr, ev_t, model, par, quirks = ctx[0], ctx[1], ctx[3], ctx[5], ctx[6]
    lc = lif_lc(model, par)
    while m > 0:
        par[P_QC] += m
        _round_gather(S, rc, R, W, lst, m, cur, b, ev_ptr, ev_t)
        _round_steps(R[0], R[1], R[2], R[3], R[4], K1, W[1], W[2], min(pad(m), W.shape[1]),
                     model, quirks)
        m, nb, err = _round_finish(S, rc, cur, lst, m, b, ctx, lc, R, K1, W, buf_t, buf_i, nb)
        if err:
            return nb, err
    return nb, 0


@njit(cache=True, inline='always')
def lif_evolve_all(S, rc, cur, a, b, ctx, buf_t, buf_i, scr):
    """kernels_fast.evolve_all of a LIF-family network over a full dt (b - a == dt).

    scr = (R (8, n), K1 (n), unused, mask (n) all 0, exc (n), W (3, n)) as evolve_all's.
    Returns (spike count in buf, err).
    """
    ev_ptr, ev_t, model, par, quirks, dt, cf_dt = (ctx[0], ctx[1], ctx[3], ctx[5], ctx[6],
                                                   ctx[7], ctx[8])
    R, K1, _, mask, exc, W = scr
    lif_pass(S[RV], S[RGE], S[RGI], S[RHE], S[RHI], rc, cur, ev_ptr, ev_t, mask, model, b, dt,
             par[P_THRESH], par[P_TREF], cf_dt, cond_coefs(model, dt, quirks))
    ne = _collect(mask, exc)
    par[P_QC] += S.shape[1] - ne
    if ne == 0:
        return 0, 0
    return lif_rounds(S, rc, cur, exc, ne, a, b, ctx, R, K1, W, buf_t, buf_i, 0)
