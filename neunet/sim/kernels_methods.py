"""Numba network methods (simple, SSC, big-delay) and the chunk loop over time steps.

``run_chunk`` advances the whole network over the steps ending at ``t_ends`` with one method,
writes sample rows where ``row_of_step >= 0`` and returns the raster lines of the chunk in
output order (step index, neuron id, absolute time). Status codes: 0 ok, 1 "Multiple spikes in
one dt", 2 too many spikes in one step.
"""
import numpy as np
from numba import njit

from neunet.sim.kernels_neuron import RGE, RGI, RH, RM, RN, RV, cond_coefs, inject_rows
from neunet.sim.kernels_step import deliver, evolve, force_reset, inject, quiet, sort_spikes
from neunet.sim.kernels_fast import FAST_MIN_NEURONS, evolve_all, scalar_all

# Method ids (engine maps names to these).
M_SIMPLE, M_SSC, M_DELAY = 0, 1, 2


@njit(cache=True)
def _grow(a, need):
    """Return a (or a larger copy of it) with room for `need` entries."""
    if need <= a.shape[0]:
        return a
    b = np.empty(max(need, 2 * a.shape[0]), a.dtype)
    b[:a.shape[0]] = a
    return b


@njit(cache=True, _nrt=False)
def _earliest(buf_t, buf_i, nb):
    """Index of the earliest buffered spike (ties: smaller id)."""
    best = 0
    for k in range(1, nb):
        if buf_t[k] < buf_t[best] or (buf_t[k] == buf_t[best] and buf_i[k] < buf_i[best]):
            best = k
    return best


@njit(cache=True)
def step_ssc_ref(S, rc, flag, cur, t, t_end, ctx, net, bk, buf_t, buf_i, rec_t, rec_i,
                 scr):
    """Reference SSC: roll every neuron back to each spike time in turn (spec 9.2)."""
    (ev_ptr, ev_t, ev_s, model, cur_kind, par, quirks, dt, cf_dt) = ctx
    (nE, post_ptr, post_idx, post_w, sc) = net
    (B, rcB, flB, curB, b_time, done) = bk
    n = S.shape[1]
    nrec = 0
    while True:
        B[:] = S
        rcB[:] = rc
        flB[:] = flag
        curB[:] = cur
        nb, err = evolve_all(S, rc, flag, cur, t, t_end, ctx, buf_t, buf_i, scr)
        if err or nb == 0:
            return nrec, err
        k = _earliest(buf_t, buf_i, nb)
        tH, jH = buf_t[k], buf_i[k]
        S[:] = B
        rc[:] = rcB
        flag[:] = flB
        cur[:] = curB
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


@njit(cache=True)
def step_ssc_exact(S, rc, flag, cur, t, t_end, ctx, net, bk, buf_t, buf_i, rec_t, rec_i,
                   scr):
    """Event-ordered exact SSC: spikes in time order, only their post neurons re-integrated."""
    (ev_ptr, ev_t, ev_s, model, cur_kind, par, quirks, dt, cf_dt) = ctx
    (nE, post_ptr, post_idx, post_w, sc) = net
    (B, rcB, flB, curB, b_time, done) = bk
    B[:] = S
    rcB[:] = rc
    flB[:] = flag
    curB[:] = cur
    b_time[:] = t
    done[:] = 0
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


@njit(cache=True, _nrt=False)
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
    (q_t, q_s, q_r, q_head, q_cnt) = q
    n, cap = S.shape[1], q_t.shape[1]
    nb, err = 0, 0
    for i in range(n):
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


@njit(cache=True)
def _q_grow(q):
    """Double the capacity of the delay queues, unrolling each ring buffer."""
    (q_t, q_s, q_r, q_head, q_cnt) = q
    n, cap = q_t.shape
    t2, s2, r2 = np.empty((n, 2 * cap)), np.empty((n, 2 * cap)), np.zeros((n, 2 * cap), np.int64)
    for i in range(n):
        for a in range(q_cnt[i]):
            b = (q_head[i] + a) % cap
            t2[i, a], s2[i, a], r2[i, a] = q_t[i, b], q_s[i, b], q_r[i, b]
        q_head[i] = 0
    return (t2, s2, r2, q_head, q_cnt)


@njit(cache=True)
def queue_spikes(buf_t, buf_i, nb, net, delay, use_w, model, q):
    """Append each spike's delayed synaptic events (t_s + delay) to its post neurons' queues."""
    (nE, post_ptr, post_idx, post_w, sc) = net
    re, ri = inject_rows(model)
    for k in range(nb):
        j = buf_i[k]
        for e in range(post_ptr[j], post_ptr[j + 1]):
            i = post_idx[e]
            if q[4][i] == q[0].shape[1]:
                q = _q_grow(q)
            if j < nE:
                s, row = (sc[0] if i < nE else sc[1]), re
            else:
                s, row = (sc[2] if i < nE else sc[3]), ri
            cap = q[0].shape[1]
            b = (q[3][i] + q[4][i]) % cap
            q[0][i, b] = buf_t[k] + delay
            q[1][i, b] = post_w[e] * s if use_w else s
            q[2][i, b] = row
            q[4][i] += 1
    return q


@njit(cache=True)
def _append(out_k, out_i, out_t, n_out, k, src_i, src_t, cnt):
    """Append cnt raster lines of step k to the (growable) chunk output arrays."""
    out_k = _grow(out_k, n_out + cnt)
    out_i = _grow(out_i, n_out + cnt)
    out_t = _grow(out_t, n_out + cnt)
    for a in range(cnt):
        out_k[n_out + a], out_i[n_out + a], out_t[n_out + a] = k, src_i[a], src_t[a]
    return out_k, out_i, out_t, n_out + cnt


@njit(cache=True, error_model='numpy')
def run_chunk(method, model, cur_kind, quirks, par, dt, S, rc, flag, t_start, t_ends,
              ev_ptr, ev_t, ev_s, nE, post_ptr, post_idx, post_w, sc, delay,
              q_t, q_s, q_r, q_head, q_cnt, row_of_step, out_v, out_c, out_g, rec_c, rec_g):
    """Advance the network over the steps ending at t_ends; see the module docstring.

    Returns (status, steps done, n_out, out_k, out_i, out_t, q_t, q_s, q_r).
    """
    n = S.shape[1]
    cur = ev_ptr[:-1].copy()
    ctx = (ev_ptr, ev_t, ev_s, model, cur_kind, par, quirks, dt, cond_coefs(model, 0.5 * dt, quirks))
    net = (nE, post_ptr, post_idx, post_w, sc)
    q = (q_t, q_s, q_r, q_head, q_cnt)
    cap = 4 * n + ev_t.shape[0] + 16
    buf_t, buf_i = np.empty(cap), np.empty(cap, np.int64)
    rec_t, rec_i = np.empty(cap), np.empty(cap, np.int64)
    m = n if method == M_SSC else 0
    bk = (np.empty((8, m)), np.empty(m), np.empty(m, flag.dtype), np.empty(m, np.int64),
          np.empty(m), np.zeros(m, np.int64))
    scr = (np.empty((8, n)), np.empty(n), np.zeros((3, n)), np.zeros(n, np.int8),
           np.empty(n, np.int64), np.empty((3, n)))
    out_k, out_i, out_t = np.empty(64, np.int64), np.empty(64, np.int64), np.empty(64)
    n_out, status, t, k = 0, 0, t_start, 0
    while k < t_ends.shape[0]:
        t_end = t_ends[k]
        if method == M_SSC:
            if quirks:
                cnt, status = step_ssc_ref(S, rc, flag, cur, t, t_end, ctx, net, bk,
                                           buf_t, buf_i, rec_t, rec_i, scr)
            else:
                cnt, status = step_ssc_exact(S, rc, flag, cur, t, t_end, ctx, net, bk,
                                             buf_t, buf_i, rec_t, rec_i, scr)
            if cnt:
                out_k, out_i, out_t, n_out = _append(out_k, out_i, out_t, n_out, k, rec_i, rec_t,
                                                     cnt)
        else:
            if method == M_SIMPLE and n < FAST_MIN_NEURONS:
                cnt, status = scalar_all(S, rc, flag, cur, t, t_end, ctx, buf_t, buf_i)
                if cnt:
                    sort_spikes(buf_t, buf_i, cnt)
                    for a in range(cnt):
                        deliver(S, buf_i[a], nE, post_ptr, post_idx, post_w, sc, True, model)
            elif method == M_SIMPLE:
                cnt, status = step_simple(S, rc, flag, cur, t, t_end, ctx, net, buf_t, buf_i,
                                          scr)
            else:
                cnt, status = step_delay(S, rc, flag, cur, t, t_end, ctx, q, buf_t, buf_i)
                if cnt:
                    q = queue_spikes(buf_t, buf_i, cnt, net, delay, not quirks, model, q)
            if cnt:
                out_k, out_i, out_t, n_out = _append(out_k, out_i, out_t, n_out, k, buf_i, buf_t,
                                                     cnt)
        if status:
            break
        if row_of_step[k] >= 0:
            write_row(S, row_of_step[k], out_v, out_c, out_g, rec_c, rec_g)
        t = t_end
        k += 1
    return status, k, n_out, out_k, out_i, out_t, q[0], q[1], q[2]
