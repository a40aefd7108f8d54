"""Numba SSC steps (spec 9.2): the reference's whole-network roll-back and the event-ordered one.

``step_ssc_ref`` (with --reference-quirks) rolls every neuron back to each spike time in turn,
as the reference does; ``step_ssc_exact`` (default) processes spikes in time order and
re-integrates only their post-synaptic neurons. The backup helpers are shared with
kernels_sparse.
"""
from numba import njit

from neunet.sim.kernels_fast import evolve_all
from neunet.sim.kernels_neuron import inject_rows, is_hh
from neunet.sim.kernels_step import deliver, evolve, force_reset


@njit(cache=True, _nrt=False)
def _backup(S, rc, flag, cur, B, rcB, flB, curB):
    """Copy the whole network state (S, rc, flag, cur) into (B, rcB, flB, curB)."""
    n = S.shape[1]
    for r in range(8):
        for i in range(n):
            B[r, i] = S[r, i]
    for i in range(n):
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
            force_reset(S, rc, flag, jH, model, par, quirks)
            rec_t[nrec], rec_i[nrec] = tH, jH
            nrec += 1
            deliver(S, jH, nE, post_ptr, post_idx, post_w, sc, True, model)
        t = tH


@njit(cache=True, inline='always')
def _restore(S, rc, flag, cur, bk, i, hh):
    """Put neuron i back to its backup (rows h, m, n only for HH: LIF leaves them 0)."""
    B, rcB, flB, curB = bk[0], bk[1], bk[2], bk[3]
    for r in range(0 if hh else 4, 8):
        S[r, i] = B[r, i]
    S[0, i] = B[0, i]
    rc[i], flag[i], cur[i] = rcB[i], flB[i], curB[i]


@njit(cache=True, inline='always')
def _save(S, rc, flag, cur, bk, i, hh):
    """Back neuron i up (rows h, m, n only for HH)."""
    B, rcB, flB, curB = bk[0], bk[1], bk[2], bk[3]
    for r in range(0 if hh else 4, 8):
        B[r, i] = S[r, i]
    B[0, i] = S[0, i]
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
            _restore(S, rc, flag, cur, bk, i, is_hh(model))
            nb = _drop_neuron(buf_t, buf_i, nb, i)
            nb, err = _replay(S, rc, flag, cur, i, b_time[i], tH, ctx, bk, buf_t, buf_i, nb)
            if jH < nE:
                S[re, i] += post_w[e] * (sc[0] if i < nE else sc[1])
            else:
                S[ri, i] += post_w[e] * (sc[2] if i < nE else sc[3])
            _save(S, rc, flag, cur, bk, i, is_hh(model))
            b_time[i] = tH
            done[i] = 0
            nb, err2 = evolve(S, rc, flag, cur, i, tH, t_end, ev_ptr, ev_t, ev_s, model,
                              cur_kind, par, quirks, dt, cf_dt, buf_t, buf_i, nb)
            err = err or err2
    return nrec, err
