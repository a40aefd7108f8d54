"""Numba network methods of the standard models and the chunk loop over time steps.

Methods: simple (here), SSC (kernels_ssc), SSC-Sparse and SSC-Sparse2 (kernels_sparse),
big-delay and big-net-delay (kernels_delay).

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

from neunet.sim.kernels_delay import queue_full, queue_spikes, step_delay
from neunet.sim.kernels_fast import FAST_MIN_NEURONS, evolve_all, scalar_all
from neunet.sim.kernels_neuron import P_HET, RGE, RGI, RH, RM, RN, RV, cond_coefs, is_hh
from neunet.sim.kernels_single import hh_single
from neunet.sim.kernels_sparse import step_ssc_sparse, step_ssc_sparse2
from neunet.sim.kernels_ssc import step_ssc_exact, step_ssc_ref
from neunet.sim.kernels_step import (
    ST_OK,
    ST_OUT_FULL,
    ST_QUEUE_FULL,
    deliver,
    sort_spikes,
)

# Method ids (engine maps names to these).
M_SIMPLE, M_SSC, M_DELAY, M_NET_DELAY, M_SPARSE, M_SPARSE2 = 0, 1, 2, 3, 4, 5


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


@njit(cache=True, inline='always')
def _one_step(method, quirks, n, S, rc, flag, cur, t, t_end, ctx, net, delay, q, work):
    """One step of the network: (spike count, status, spike times, spike ids)."""
    (buf_t, buf_i, rec_t, rec_i, bk, scr, sp) = work
    model, nE, post_ptr, post_idx, post_w, sc = ctx[3], net[0], net[1], net[2], net[3], net[4]
    if method == M_SSC:
        if quirks:
            cnt, status = step_ssc_ref(S, rc, flag, cur, t, t_end, ctx, net, bk, buf_t, buf_i,
                                       rec_t, rec_i, scr)
        else:
            cnt, status = step_ssc_exact(S, rc, flag, cur, t, t_end, ctx, net, bk, buf_t,
                                         buf_i, rec_t, rec_i, scr)
        return cnt, status, rec_t, rec_i
    if method == M_SPARSE:
        cnt, status = step_ssc_sparse(S, rc, flag, cur, t, t_end, ctx, net, bk, sp, buf_t,
                                      buf_i, rec_t, rec_i, scr)
        return cnt, status, rec_t, rec_i
    if method == M_SPARSE2:
        cnt, status = step_ssc_sparse2(S, rc, flag, cur, t, t_end, ctx, net, bk, sp, buf_t,
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
            status = queue_spikes(buf_t, buf_i, cnt, net, delay, method == M_NET_DELAY,
                                  not ctx[6], model, q)
    return cnt, status, buf_t, buf_i


@njit(cache=True, _nrt=False, error_model='numpy')
def run_chunk(method, model, cur_kind, quirks, par, dt, S, rc, flag, cur, t_start, k0, t_ends,
              ev_ptr, ev_t, ev_s, net, delay, q, max_indeg, row_of_step, rows, rec_c, rec_g,
              work, out, n_out):
    """Advance the network over the steps k0, k0 + 1, ... ending at t_ends[k0:].

    net = (nE, post_ptr, post_idx, post_w, sc); delay the delay of each edge (CSR order);
    q = (q_t, q_s, q_r, q_head, q_cnt) the delay queues; rows = (out_v, out_c, out_g) the
    sample rows; work = (buf_t, buf_i, rec_t, rec_i, bk, scr, sp) scratch (spike buffers of
    equal size, the SSC backup, evolve_all's scratch, the SSC-Sparse lists);
    out = (out_k, out_i, out_t) the raster lines, n_out of them already written. cur (n)
    holds each neuron's next input event. Returns (status, steps done, n_out).
    """
    n = S.shape[1]
    ctx = (ev_ptr, ev_t, ev_s, model, cur_kind, par, quirks, dt,
           cond_coefs(model, 0.5 * dt, quirks))
    (out_k, out_i, out_t) = out
    if method == M_SIMPLE and n == 1 and is_hh(model) and par[P_HET] == 0.0:
        return hh_single(S, rc, flag, cur, t_start, k0, t_ends, ctx, row_of_step, rows, rec_c,
                         rec_g, work[0], work[1], out, n_out)
    room = work[0].shape[0]
    status, t, k = ST_OK, t_start, k0
    while k < t_ends.shape[0]:
        if n_out + room > out_k.shape[0]:
            return ST_OUT_FULL, k, n_out
        if (method == M_DELAY or method == M_NET_DELAY) and queue_full(q[4], q[0].shape[1],
                                                                        max_indeg):
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
