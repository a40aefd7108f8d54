"""Numba network methods (simple, SSC, big-delay) and the chunk loop over time steps.

``run_chunk`` advances the whole network over the steps ending at ``t_ends`` with one method,
writes sample rows where ``row_of_step >= 0`` and appends the raster lines of the chunk in
output order (step index, neuron id, absolute time) to caller-given arrays. Status codes: 0
ok, 1 "Multiple spikes in one dt", 2 too many spikes in one step, 3 the raster arrays are
full, 4 a delay queue could overflow in the next step (3 and 4: the caller enlarges them and
calls again from the step reached).

Nothing here allocates: every buffer comes from the engine. A kernel that allocates links
numba's array-allocation code, whose environments import numba.np.arrayobj and its string
machinery at every cache load (~50 ms of each simulator start-up).
"""
from numba import njit

from neunet.sim.kernels_fast import FAST_MIN_NEURONS, evolve_all, scalar_all
from neunet.sim.kernels_neuron import RGE, RGI, RH, RM, RN, RV, cond_coefs, inject_rows, is_hh
from neunet.sim.kernels_single import hh_single
from neunet.sim.kernels_step import (
    ST_OK,
    ST_OUT_FULL,
    ST_QUEUE_FULL,
    ST_TOO_MANY,
    deliver,
    evolve,
    force_reset,
    inject,
    quiet,
    sort_spikes,
)

# Method ids (engine maps names to these).
M_SIMPLE, M_SSC, M_DELAY = 0, 1, 2


@njit(cache=True, _nrt=False)
def _backup(S, rc, flag, cur, B, rcB, flB, curB):
    """Copy the whole network state (S, rc, flag, cur) into (B, rcB, flB, curB)."""
    for i in range(S.shape[1]):
        for r in range(8):
            B[r, i] = S[r, i]
        rcB[i], flB[i], curB[i] = rc[i], flag[i], cur[i]


@njit(cache=True, _nrt=False)
def _earliest(buf_t, buf_i, nb):
    """Index of the earliest buffered spike (ties: smaller id)."""
    best = 0
    for k in range(1, nb):
        if buf_t[k] < buf_t[best] or (buf_t[k] == buf_t[best] and buf_i[k] < buf_i[best]):
            best = k
    return best


@njit(cache=True, _nrt=False)
def step_ssc_ref(S, rc, flag, cur, t, t_end, ctx, net, bk, buf_t, buf_i, rec_t, rec_i,
                 scr):
    """Reference SSC: roll every neuron back to each spike time in turn (spec 9.2)."""
    (ev_ptr, ev_t, ev_s, model, cur_kind, par, quirks, dt, cf_dt) = ctx
    (nE, post_ptr, post_idx, post_w, sc) = net
    (B, rcB, flB, curB, b_time, done) = bk
    n = S.shape[1]
    nrec = 0
    while True:
        _backup(S, rc, flag, cur, B, rcB, flB, curB)
        nb, err = evolve_all(S, rc, flag, cur, t, t_end, ctx, buf_t, buf_i, scr)
        if err or nb == 0:
            return nrec, err
        k = _earliest(buf_t, buf_i, nb)
        tH, jH = buf_t[k], buf_i[k]
        _backup(B, rcB, flB, curB, S, rc, flag, cur)
        nb = 0
        for i in range(n):
            nb, err = evolve(S, rc, flag, cur, i, t, tH, ev_ptr, ev_t, ev_s, model, cur_kind,
                             par, quirks, dt, cf_dt, buf_t, buf_i, nb)
            if err:
                return nrec, err
        found = False
        if nrec + nb + 1 > rec_t.shape[0]:
            return nrec, 2
        for k in range(nb):
            j = buf_i[k]
            found = found or j == jH
            rec_t[nrec], rec_i[nrec] = tH, j
            nrec += 1
            deliver(S, j, nE, post_ptr, post_idx, post_w, sc, True, model)
        if not found:
            force_reset(S, rc, flag, jH, model)
            rec_t[nrec], rec_i[nrec] = tH, jH
            nrec += 1
            deliver(S, jH, nE, post_ptr, post_idx, post_w, sc, True, model)
        t = tH


@njit(cache=True, inline='always')
def _restore(S, rc, flag, cur, bk, i):
    """Put neuron i back to its backup."""
    B, rcB, flB, curB = bk[0], bk[1], bk[2], bk[3]
    for r in range(8):
        S[r, i] = B[r, i]
    rc[i], flag[i], cur[i] = rcB[i], flB[i], curB[i]


@njit(cache=True, inline='always')
def _save(S, rc, flag, cur, bk, i):
    """Back neuron i up."""
    B, rcB, flB, curB = bk[0], bk[1], bk[2], bk[3]
    for r in range(8):
        B[r, i] = S[r, i]
    rcB[i], flB[i], curB[i] = rc[i], flag[i], cur[i]


@njit(cache=True, inline='always')
def _drop_neuron(buf_t, buf_i, nb, i):
    """Remove the pending spikes of neuron i from the buffer; return the new count."""
    k = 0
    while k < nb:
        if buf_i[k] == i:
            nb -= 1
            buf_t[k], buf_i[k] = buf_t[nb], buf_i[nb]
        else:
            k += 1
    return nb


@njit(cache=True, inline='always')
def _replay(S, rc, flag, cur, i, a, b, ctx, bk, buf_t, buf_i, nb):
    """Re-evolve i from its backup time a to b, skipping the spikes it already recorded."""
    (ev_ptr, ev_t, ev_s, model, cur_kind, par, quirks, dt, cf_dt) = ctx
    done = bk[5]
    start = nb
    nb, err = evolve(S, rc, flag, cur, i, a, b, ev_ptr, ev_t, ev_s, model, cur_kind, par,
                     quirks, dt, cf_dt, buf_t, buf_i, nb)
    skip = min(done[i], nb - start)
    for k in range(start, nb - skip):
        buf_t[k], buf_i[k] = buf_t[k + skip], buf_i[k + skip]
    return nb - skip, err


@njit(cache=True, _nrt=False)
def step_ssc_exact(S, rc, flag, cur, t, t_end, ctx, net, bk, buf_t, buf_i, rec_t, rec_i,
                   scr):
    """Event-ordered exact SSC: spikes in time order, only their post neurons re-integrated."""
    (ev_ptr, ev_t, ev_s, model, cur_kind, par, quirks, dt, cf_dt) = ctx
    (nE, post_ptr, post_idx, post_w, sc) = net
    (B, rcB, flB, curB, b_time, done) = bk
    _backup(S, rc, flag, cur, B, rcB, flB, curB)
    for i in range(S.shape[1]):
        b_time[i], done[i] = t, 0
    nb, err = evolve_all(S, rc, flag, cur, t, t_end, ctx, buf_t, buf_i, scr)
    nrec = 0
    re, ri = inject_rows(model)
    while nb > 0 and not err:
        k = _earliest(buf_t, buf_i, nb)
        tH, jH = buf_t[k], buf_i[k]
        nb -= 1
        buf_t[k], buf_i[k] = buf_t[nb], buf_i[nb]
        if nrec >= rec_t.shape[0]:
            return nrec, 2
        rec_t[nrec], rec_i[nrec] = tH, jH
        nrec += 1
        done[jH] += 1
        for e in range(post_ptr[jH], post_ptr[jH + 1]):
            i = post_idx[e]
            _restore(S, rc, flag, cur, bk, i)
            nb = _drop_neuron(buf_t, buf_i, nb, i)
            nb, err = _replay(S, rc, flag, cur, i, b_time[i], tH, ctx, bk, buf_t, buf_i, nb)
            if jH < nE:
                S[re, i] += post_w[e] * (sc[0] if i < nE else sc[1])
            else:
                S[ri, i] += post_w[e] * (sc[2] if i < nE else sc[3])
            _save(S, rc, flag, cur, bk, i)
            b_time[i] = tH
            done[i] = 0
            nb, err2 = evolve(S, rc, flag, cur, i, tH, t_end, ev_ptr, ev_t, ev_s, model,
                              cur_kind, par, quirks, dt, cf_dt, buf_t, buf_i, nb)
            err = err or err2
    return nrec, err


@njit(cache=True, inline='always')
def step_simple(S, rc, flag, cur, t, t_end, ctx, net, buf_t, buf_i, scr):
    """simple (spec 9.1): evolve all neurons, then apply the sorted spikes at the step end."""
    model = ctx[3]
    (nE, post_ptr, post_idx, post_w, sc) = net
    nb, err = evolve_all(S, rc, flag, cur, t, t_end, ctx, buf_t, buf_i, scr)
    if nb > 1:
        sort_spikes(buf_t, buf_i, nb)
    for k in range(nb):
        deliver(S, buf_i[k], nE, post_ptr, post_idx, post_w, sc, True, model)
    return nb, err


@njit(cache=True, _nrt=False)
def write_row(S, row, out_v, out_c, out_g, rec_c, rec_g):
    """Copy V (and gE, gI / h, m, n if recorded) of every neuron into output row `row`."""
    n = S.shape[1]
    for i in range(n):
        out_v[row, i] = S[RV, i]
    if rec_c:
        for i in range(n):
            out_c[row, 2 * i] = S[RGE, i]
            out_c[row, 2 * i + 1] = S[RGI, i]
    if rec_g:
        for i in range(n):
            out_g[row, 3 * i] = S[RH, i]
            out_g[row, 3 * i + 1] = S[RM, i]
            out_g[row, 3 * i + 2] = S[RN, i]


@njit(cache=True, _nrt=False)
def step_delay(S, rc, flag, cur, t, t_end, ctx, q, buf_t, buf_i):
    """big-delay (spec 9.5): merge external and queued synaptic events per neuron, ext first."""
    (ev_ptr, ev_t, ev_s, model, cur_kind, par, quirks, dt, cf_dt) = ctx
    nb, err = 0, 0
    for i in range(S.shape[1]):
        nb, err = _delay_neuron(S, rc, flag, cur, i, t, t_end, ctx, q, buf_t, buf_i, nb)
        if err:
            break
    sort_spikes(buf_t, buf_i, nb)
    return nb, err


@njit(cache=True, _nrt=False)
def _delay_neuron(S, rc, flag, cur, i, t, t_end, ctx, q, buf_t, buf_i, nb):
    """Evolve neuron i over [t, t_end) through its external and delayed synaptic events."""
    (ev_ptr, ev_t, ev_s, model, cur_kind, par, quirks, dt, cf_dt) = ctx
    (q_t, q_s, q_r, q_head, q_cnt) = q
    cap = q_t.shape[1]
    k, stop = cur[i], ev_ptr[i + 1]
    while True:
        has_e = k < stop and ev_t[k] < t_end
        hq = q_head[i]
        has_q = q_cnt[i] > 0 and q_t[i, hq] < t_end
        if not (has_e or has_q):
            break
        e = ev_t[k] if (has_e and (not has_q or ev_t[k] <= q_t[i, hq])) else q_t[i, hq]
        ts, err = quiet(S, rc, flag, i, t, e - t, model, cur_kind, par, quirks, dt, cf_dt)
        if ts >= 0.0:
            buf_t[nb], buf_i[nb] = t + ts, i
            nb += 1
        if err:
            cur[i] = k
            return nb, err
        if e > t:
            t = e
        if has_e and (not has_q or ev_t[k] <= q_t[i, hq]):
            inject(S, i, ev_s[k], model)
            k += 1
        else:
            S[q_r[i, hq], i] += q_s[i, hq]
            q_head[i] = (hq + 1) % cap
            q_cnt[i] -= 1
    cur[i] = k
    ts, err = quiet(S, rc, flag, i, t, t_end - t, model, cur_kind, par, quirks, dt, cf_dt)
    if ts >= 0.0:
        buf_t[nb], buf_i[nb] = t + ts, i
        nb += 1
    return nb, err


@njit(cache=True, _nrt=False)
def queue_spikes(buf_t, buf_i, nb, net, delay, use_w, model, q):
    """Append each spike's delayed synaptic events (t_s + delay) to its post neurons' queues.

    Returns ST_TOO_MANY if a queue is full (run_chunk checks the room before every step).
    """
    (nE, post_ptr, post_idx, post_w, sc) = net
    (q_t, q_s, q_r, q_head, q_cnt) = q
    cap = q_t.shape[1]
    re, ri = inject_rows(model)
    for k in range(nb):
        j = buf_i[k]
        for e in range(post_ptr[j], post_ptr[j + 1]):
            i = post_idx[e]
            if q_cnt[i] == cap:
                return ST_TOO_MANY
            if j < nE:
                s, row = (sc[0] if i < nE else sc[1]), re
            else:
                s, row = (sc[2] if i < nE else sc[3]), ri
            b = (q_head[i] + q_cnt[i]) % cap
            q_t[i, b] = buf_t[k] + delay
            q_s[i, b] = post_w[e] * s if use_w else s
            q_r[i, b] = row
            q_cnt[i] += 1
    return ST_OK


@njit(cache=True, _nrt=False)
def _queue_short(q_cnt, cap, max_indeg):
    """True if a neuron's delay queue might not hold two spikes of each presynaptic neuron."""
    peak = 0
    for i in range(q_cnt.shape[0]):
        peak = max(peak, q_cnt[i])
    return peak + 2 * max_indeg > cap


@njit(cache=True, inline='always')
def _one_step(method, quirks, n, S, rc, flag, cur, t, t_end, ctx, net, delay, q, work):
    """One step of the network: (spike count, status, spike times, spike ids)."""
    (buf_t, buf_i, rec_t, rec_i, bk, scr) = work
    model, nE, post_ptr, post_idx, post_w, sc = ctx[3], net[0], net[1], net[2], net[3], net[4]
    if method == M_SSC:
        if quirks:
            cnt, status = step_ssc_ref(S, rc, flag, cur, t, t_end, ctx, net, bk, buf_t, buf_i,
                                       rec_t, rec_i, scr)
        else:
            cnt, status = step_ssc_exact(S, rc, flag, cur, t, t_end, ctx, net, bk, buf_t,
                                         buf_i, rec_t, rec_i, scr)
        return cnt, status, rec_t, rec_i
    if method == M_SIMPLE and n < FAST_MIN_NEURONS:
        cnt, status = scalar_all(S, rc, flag, cur, t, t_end, ctx, buf_t, buf_i)
        if cnt:
            sort_spikes(buf_t, buf_i, cnt)
            for a in range(cnt):
                deliver(S, buf_i[a], nE, post_ptr, post_idx, post_w, sc, True, model)
    elif method == M_SIMPLE:
        cnt, status = step_simple(S, rc, flag, cur, t, t_end, ctx, net, buf_t, buf_i, scr)
    else:
        cnt, status = step_delay(S, rc, flag, cur, t, t_end, ctx, q, buf_t, buf_i)
        if cnt and not status:
            status = queue_spikes(buf_t, buf_i, cnt, net, delay, not ctx[6], model, q)
    return cnt, status, buf_t, buf_i


@njit(cache=True, _nrt=False, error_model='numpy')
def run_chunk(method, model, cur_kind, quirks, par, dt, S, rc, flag, cur, t_start, k0, t_ends,
              ev_ptr, ev_t, ev_s, net, delay, q, max_indeg, row_of_step, rows, rec_c, rec_g,
              work, out, n_out):
    """Advance the network over the steps k0, k0 + 1, ... ending at t_ends[k0:].

    net = (nE, post_ptr, post_idx, post_w, sc); q = (q_t, q_s, q_r, q_head, q_cnt) the delay
    queues; rows = (out_v, out_c, out_g) the sample rows; work = (buf_t, buf_i, rec_t, rec_i,
    bk, scr) scratch (spike buffers of equal size, the SSC backup, evolve_all's scratch);
    out = (out_k, out_i, out_t) the raster lines, n_out of them already written. cur (n)
    holds each neuron's next input event. Returns (status, steps done, n_out).
    """
    n = S.shape[1]
    ctx = (ev_ptr, ev_t, ev_s, model, cur_kind, par, quirks, dt,
           cond_coefs(model, 0.5 * dt, quirks))
    (out_k, out_i, out_t) = out
    if method == M_SIMPLE and n == 1 and is_hh(model):
        return hh_single(S, rc, flag, cur, t_start, k0, t_ends, ctx, row_of_step, rows, rec_c,
                         rec_g, work[0], work[1], out, n_out)
    room = work[0].shape[0]
    status, t, k = ST_OK, t_start, k0
    while k < t_ends.shape[0]:
        if n_out + room > out_k.shape[0]:
            return ST_OUT_FULL, k, n_out
        if method == M_DELAY and _queue_short(q[4], q[0].shape[1], max_indeg):
            return ST_QUEUE_FULL, k, n_out
        t_end = t_ends[k]
        cnt, status, src_t, src_i = _one_step(method, quirks, n, S, rc, flag, cur, t, t_end,
                                              ctx, net, delay, q, work)
        for a in range(cnt):
            out_k[n_out], out_i[n_out], out_t[n_out] = k, src_i[a], src_t[a]
            n_out += 1
        if status:
            break
        if row_of_step[k] >= 0:
            write_row(S, row_of_step[k], rows[0], rows[1], rows[2], rec_c, rec_g)
        t = t_end
        k += 1
    return status, k, n_out
