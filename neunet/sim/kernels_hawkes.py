"""Numba Hawkes-GH kernels (spec 8.8): a 'neuron' whose V is elapsed drive, simple method only.

State S (8, n): V (row 0), its threshold theta (row 1), gE, gI, HE, HI (rows 4-7). V grows
at dV/dt = gE - gI + I0 (I0 is the model's "threshold" value, set by --set-threshold); the
conductances are LIF-GH's. When V passes theta within a quiet step the neuron fires: it is
integrated to the crossing (cubic Hermite root), V := 0, theta := a fresh Exp(1) draw from
the run's MT19937, and the rest of the step follows (possibly firing again). The draws share
the generator with the Poisson input, so ``hawkes_chunk`` consumes Poisson events itself
(refilling a neuron's queue the moment its last event is used, as the reference) when the
input is generated, or takes them from the engine's chunk of file events.

With quirks a quiet step reports at most one spike, at its start plus the last crossing's
time measured from the last segment's start (the reference's recursion overwrites the
spike time); by default every crossing is a spike at its own time. Also with quirks, when
--output-poisson-path is written, each step's events are drawn before the step is
simulated (the reference writes them out first), which changes the order in which
thresholds and input events take numbers from the generator.
"""
from numba import njit

from neunet.sim.kernels_hermite import hermite_root
from neunet.sim.kernels_neuron import (
    HAWKES,
    LIF_GH,
    RGE,
    RGI,
    RHE,
    RHI,
    RV,
    cond_vals,
    lif_coefs,
    lif_taus,
)
from neunet.sim.kernels_step import ST_OK, ST_OUT_FULL, ST_TOO_MANY, deliver, sort_spikes
from neunet.sim.rng import REFILL, _refill, exp_draw

# Row of the threshold theta in S.
R_THETA = 1
# Indices into the Hawkes parameter vector: I0, the quiet-step counter.
H_I0, H_QC = 0, 1


@njit(cache=True, _nrt=False)
def draw_thresholds(S, mt, i0):
    """Initial thresholds I0 x Exp(1), neuron by neuron (the reference's default state)."""
    for i in range(S.shape[1]):
        S[R_THETA, i] = i0 * exp_draw(mt, 1.0)


@njit(cache=True, inline='always')
def _rk4(v0, ge, gi, he, hi, h, i0):
    """Mixed RK4 of V over h (conductances exact): (V, gE, gI, HE, HI, k1)."""
    cfh = lif_coefs(LIF_GH, 0.5 * h, lif_taus(LIF_GH))
    k1 = ge - gi + i0
    ge, gi, he, hi = cond_vals(ge, gi, he, hi, cfh)
    k2 = ge - gi + i0
    k3 = ge - gi + i0
    ge, gi, he, hi = cond_vals(ge, gi, he, hi, cfh)
    k4 = ge - gi + i0
    return v0 + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4), ge, gi, he, hi, k1


@njit(cache=True, _nrt=False)
def hawkes_quiet(S, i, t0, h, i0, mt, quirks, buf_t, buf_i, nb):
    """Quiet step of neuron i from t0 over h; spikes appended to buf (returns the count,
    which goes on past the buffer's end without writing: the caller checks it)."""
    t_first, last = t0, -1.0
    while h > 0.0:
        v0, ge0, gi0, he0, hi0 = S[RV, i], S[RGE, i], S[RGI, i], S[RHE, i], S[RHI, i]
        v1, ge, gi, he, hi, k1 = _rk4(v0, ge0, gi0, he0, hi0, h, i0)
        th = S[R_THETA, i]
        if not (v0 <= th and v1 > th):
            S[RV, i], S[RGE, i], S[RGI, i], S[RHE, i], S[RHI, i] = v1, ge, gi, he, hi
            break
        ts = hermite_root(v0, v1, k1, ge - gi + i0, th, h, quirks)
        v, ge, gi, he, hi, k1 = _rk4(v0, ge0, gi0, he0, hi0, ts, i0)
        S[RV, i], S[RGE, i], S[RGI, i], S[RHE, i], S[RHI, i] = 0.0, ge, gi, he, hi
        S[R_THETA, i] = exp_draw(mt, 1.0)
        if quirks:
            last = ts
        else:
            if nb < buf_t.shape[0]:
                buf_t[nb], buf_i[nb] = t0 + ts, i
            nb += 1
        t0 += ts
        h -= ts
    if last >= 0.0:
        if nb < buf_t.shape[0]:
            buf_t[nb], buf_i[nb] = t_first + last, i
        nb += 1
    return nb


@njit(cache=True, inline='always')
def _peek(gen, j, cur, ev, pq):
    """Neuron j's next input event: (available, time, strength)."""
    if gen:
        q_t, q_s, q_head, q_len = pq[5], pq[6], pq[7], pq[8]
        if q_head[j] < q_len[j]:
            return True, q_t[j, q_head[j]], q_s[j, q_head[j]]
        return False, 0.0, 0.0
    k = cur[j]
    if k < ev[0][j + 1]:
        return True, ev[1][k], ev[2][k]
    return False, 0.0, 0.0


@njit(cache=True, inline='always')
def _pop(gen, j, cur, pq, mt):
    """Consume neuron j's next event; a generated queue refills when it runs empty."""
    if gen:
        (rate_e, rate_i, str_e, str_i, next_t, q_t, q_s, q_head, q_len) = pq
        q_head[j] += 1
        if q_head[j] == q_len[j]:
            q_head[j] = 0
            q_len[j] = 0
            _refill(mt, j, rate_e, rate_i, str_e, str_i, next_t, q_t, q_s, q_len, REFILL)
    else:
        cur[j] += 1


@njit(cache=True, _nrt=False)
def _neuron(S, j, t, t_end, hp, quirks, gen, cur, ev, pq, mt, used, buf_t, buf_i, nb):
    """Evolve neuron j through its input events before t_end (simple method)."""
    (used_i, used_t, used_s, n_used) = used
    while True:
        has, te, se = _peek(gen, j, cur, ev, pq)
        if not has or te >= t_end:
            break
        hp[H_QC] += 1.0
        nb = hawkes_quiet(S, j, t, te - t, hp[H_I0], mt, quirks, buf_t, buf_i, nb)
        t = max(t, te)
        if se >= 0.0:
            S[RHE, j] += se
        else:
            S[RHI, j] -= se
        if gen:
            x = n_used[0]
            if x < used_i.shape[0]:
                used_i[x], used_t[x], used_s[x] = j, te, se
            n_used[0] = x + 1
        _pop(gen, j, cur, pq, mt)
    hp[H_QC] += 1.0
    return hawkes_quiet(S, j, t, t_end - t, hp[H_I0], mt, quirks, buf_t, buf_i, nb)


@njit(cache=True, _nrt=False)
def _pregen(t_end, pq, mt, used, sb):
    """Draw every neuron's events before t_end into `used` (neuron by neuron, refilling the
    queues as they run empty) and index them per neuron in sb = (ptr, cur)."""
    (used_i, used_t, used_s, n_used) = used
    (sb_ptr, sb_cur) = sb
    x = n_used[0]
    for j in range(sb_cur.shape[0]):
        sb_ptr[j] = x
        while True:
            has, te, se = _peek(True, j, sb_cur, used, pq)
            if not has or te >= t_end:
                break
            if x < used_i.shape[0]:
                used_i[x], used_t[x], used_s[x] = j, te, se
            x += 1
            _pop(True, j, sb_cur, pq, mt)
    sb_ptr[sb_cur.shape[0]] = x
    n_used[0] = x
    for j in range(sb_cur.shape[0]):
        sb_cur[j] = sb_ptr[j]


@njit(cache=True, _nrt=False)
def _step_neurons(S, hp, quirks, t, t_end, gen, pregen, cur, ev, pq, mt, used, sb, buf_t,
                  buf_i):
    """Evolve every neuron over one step; returns the number of spikes buffered."""
    nb = 0
    if pregen:
        _pregen(t_end, pq, mt, used, sb)
        step_ev = (sb[0], used[1], used[2])
        for j in range(S.shape[1]):
            nb = _neuron(S, j, t, t_end, hp, quirks, False, sb[1], step_ev, pq, mt, used,
                         buf_t, buf_i, nb)
        return nb
    for j in range(S.shape[1]):
        nb = _neuron(S, j, t, t_end, hp, quirks, gen, cur, ev, pq, mt, used, buf_t, buf_i, nb)
    return nb


@njit(cache=True, _nrt=False)
def hawkes_chunk(S, hp, quirks, t, t_ends, k, gen, pregen, cur, ev, pq, mt, used, used_room,
                 sb, net, row_of_step, rows, rec_c, buf_t, buf_i, out, n_out):
    """Hawkes-GH with the simple method over the steps k, k+1, ... ending at t_ends, from t.

    gen: the input is generated (pq = the Poisson source's rates, strengths and queues;
    consumed events are listed in used = (ids, times, strengths, [count]) for
    --output-poisson-path, with room for used_room more before each step), else
    ev = (ptr, times, strengths) is the chunk's CSR of file events and cur each neuron's
    next one. pregen (generated input, quirks and a Poisson output): draw each step's events
    before simulating it, sb = (ptr (n + 1), cur (n)) their per-neuron index. Returns
    (status, step reached, n_out); ST_OUT_FULL asks the caller to enlarge the raster or
    empty `used`, ST_TOO_MANY means a step overflowed the spike buffer.
    """
    (nE, post_ptr, post_idx, post_w, sc) = net
    n = S.shape[1]
    used_cap = used[0].shape[0]
    while k < t_ends.shape[0]:
        if n_out + buf_t.shape[0] > out[0].shape[0] or (gen and used[3][0] + used_room >
                                                         used_cap):
            return ST_OUT_FULL, k, n_out
        t_end = t_ends[k]
        nb = _step_neurons(S, hp, quirks, t, t_end, gen, pregen, cur, ev, pq, mt, used, sb,
                           buf_t, buf_i)
        if nb > buf_t.shape[0] or used[3][0] > used_cap:
            return ST_TOO_MANY, k, n_out
        sort_spikes(buf_t, buf_i, nb)
        for x in range(nb):
            deliver(S, buf_i[x], nE, post_ptr, post_idx, post_w, sc, True, HAWKES)
            out[0][n_out], out[1][n_out], out[2][n_out] = k, buf_i[x], buf_t[x]
            n_out += 1
        r = row_of_step[k]
        if r >= 0:
            for i in range(n):
                rows[0][r, i] = S[RV, i]
                if rec_c:
                    rows[1][r, 2 * i], rows[1][r, 2 * i + 1] = S[RGE, i], S[RGI, i]
        t = t_end
        k += 1
    return ST_OK, k, n_out
