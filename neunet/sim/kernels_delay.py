"""Numba big-delay and big-net-delay steps (spec 9.5, 9.6): per-neuron queues of delayed kicks.

Each neuron has a ring queue of incoming delayed synaptic events (time, strength, target row
+ 8 x presynaptic neuron), ordered by (time, presynaptic neuron). A step evolves every neuron
through its external events and its queued events before the step end (external first on
ties), then queues the step's spikes at t_s + delay of each edge: appended for a constant
delay (already in order), inserted in order for per-edge delays.
"""
from numba import njit

from neunet.sim.kernels_neuron import inject_rows
from neunet.sim.kernels_step import ST_OK, ST_TOO_MANY, inject, quiet, sort_spikes

# Queued row field: target row + ROW_SPAN x presynaptic neuron.
ROW_SPAN = 8


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
        if e > t or quirks:
            t = e
        if has_e and (not has_q or ev_t[k] <= q_t[i, hq]):
            inject(S, i, ev_s[k], model)
            k += 1
        else:
            S[q_r[i, hq] % ROW_SPAN, i] += q_s[i, hq]
            q_head[i] = (hq + 1) % cap
            q_cnt[i] -= 1
    cur[i] = k
    ts, err = quiet(S, rc, flag, i, t, t_end - t, model, cur_kind, par, quirks, dt, cf_dt)
    if ts >= 0.0:
        buf_t[nb], buf_i[nb] = t + ts, i
        nb += 1
    return nb, err


@njit(cache=True, _nrt=False)
def queue_spikes(buf_t, buf_i, nb, net, delay, ordered, use_w, model, q):
    """Queue each spike's delayed synaptic events (t_s + delay[edge]) at its post neurons.

    Appended (constant delay: the queues stay in order), or with `ordered` inserted in
    (time, presynaptic neuron) order. Returns ST_TOO_MANY if a queue is full (run_chunk
    checks the room before every step).
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
            t = buf_t[k] + delay[e]
            x = q_cnt[i]
            while ordered and x > 0:
                p = (q_head[i] + x - 1) % cap
                if q_t[i, p] < t or (q_t[i, p] == t and q_r[i, p] // ROW_SPAN <= j):
                    break
                b = (q_head[i] + x) % cap
                q_t[i, b], q_s[i, b], q_r[i, b] = q_t[i, p], q_s[i, p], q_r[i, p]
                x -= 1
            b = (q_head[i] + x) % cap
            q_t[i, b] = t
            q_s[i, b] = post_w[e] * s if use_w else s
            q_r[i, b] = row + ROW_SPAN * j
            q_cnt[i] += 1
    return ST_OK


@njit(cache=True, _nrt=False)
def queue_full(q_cnt, cap, max_indeg):
    """True if a neuron's delay queue might not hold two spikes of each presynaptic neuron."""
    peak = 0
    for i in range(q_cnt.shape[0]):
        peak = max(peak, q_cnt[i])
    return peak + 2 * max_indeg > cap
