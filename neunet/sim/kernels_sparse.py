"""Numba SSC-Sparse and SSC-Sparse2 steps (spec 9.3, 9.4): spikes in time order, rolling back
only the neurons a spike affects.

Both start a step with a trial of every neuron to the step end; the pending list P holds the
spikes found. The earliest pending spike H (ties: smaller neuron) is taken; its affected
neurons are put back to their backups (state and input position, saved at their backup time
b_i) and evolved again to t_H; then H's synaptic increments are applied, the affected neurons
are backed up at t_H and evolved to the step end, their new spikes joining P. SSC-Sparse
counts the firing neuron among the affected ones (forcing its reset when the re-evolution
misses the spike); SSC-Sparse2 does not, and ignores further spikes of a neuron that already
fired in the step. The spike order and tie rules are the reference's, and each neuron's
arithmetic is its own, so the floating-point results match it. A homogeneous LIF-family
network re-evolves the affected neurons together in kernels_lif's vectorized rounds (the
neurons are independent between two spikes); the others one at a time.

sp = (ids, aff, fired, tm_t, tm_i): the affected list (n + 1), marks (n), fired flags (n) and
a spike buffer as large as buf_t. Nothing here allocates.
"""
from numba import njit

from neunet.sim.kernels_fast import evolve_all
from neunet.sim.kernels_lif import lif_rounds_from
from neunet.sim.kernels_neuron import P_HET, is_hh
from neunet.sim.kernels_ssc import _backup, _restore, _save
from neunet.sim.kernels_step import ST_OK, ST_TOO_MANY, deliver, evolve, force_reset


@njit(cache=True, _nrt=False)
def _pop_earliest(p_t, p_i, np_):
    """Remove the earliest pending spike (ties: smaller id): returns (t, id, new count)."""
    best = 0
    for k in range(1, np_):
        if p_t[k] < p_t[best] or (p_t[k] == p_t[best] and p_i[k] < p_i[best]):
            best = k
    t, j = p_t[best], p_i[best]
    for k in range(best, np_ - 1):          # keep the list order (as std::vector::erase)
        p_t[k], p_i[k] = p_t[k + 1], p_i[k + 1]
    return t, j, np_ - 1


@njit(cache=True, _nrt=False)
def _affected(j, with_self, net, ids, aff):
    """List neuron j's post neurons (CSR order), then j itself if with_self; mark them.

    Returns (count, whether a neuron is listed twice: a self-connection or a repeated edge).
    """
    post_ptr, post_idx = net[1], net[2]
    m, twice = 0, False
    for e in range(post_ptr[j], post_ptr[j + 1]):
        i = post_idx[e]
        twice = twice or aff[i] != 0
        ids[m] = i
        aff[i] = 1
        m += 1
    if with_self:
        twice = twice or aff[j] != 0
        ids[m] = j
        aff[j] = 1
        m += 1
    return m, twice


@njit(cache=True, _nrt=False)
def _drop_pending(p_t, p_i, np_, aff, b_time, tH, keep_at_tH):
    """Remove pending spikes of marked neurons, keeping (with keep_at_tH) those at tH of
    neurons already backed up at tH (re-evolving them cannot find those again)."""
    w = 0
    for k in range(np_):
        j = p_i[k]
        drop = aff[j] != 0
        if drop and keep_at_tH and b_time[j] == tH and p_t[k] == tH:
            drop = False
        if not drop:
            p_t[w], p_i[w] = p_t[k], p_i[k]
            w += 1
    return w


@njit(cache=True, _nrt=False)
def _evolve_list(S, rc, flag, cur, ids, m, once, b_time, b, ctx, out_t, out_i, no, scr):
    """Evolve the listed neurons from their backup times to b; spikes appended to out.

    A homogeneous LIF-family network takes them together in the rounds of kernels_lif, if
    each is listed once (`once`): bit for bit the scalar evolution, with the spikes in
    another order, which the pending list's pops and drops do not depend on. HH,
    heterogeneous networks and lists with a neuron twice go one neuron at a time, in order.
    """
    (ev_ptr, ev_t, ev_s, model, cur_kind, par, quirks, dt, cf_dt) = ctx
    if once and not is_hh(model) and par[P_HET] == 0.0:
        R, K1, _, _, lst, W = scr
        for x in range(m):
            lst[x] = ids[x]
            W[0, x] = b_time[ids[x]]
        return lif_rounds_from(S, rc, cur, lst, m, b, ctx, R, K1, W, out_t, out_i, no)
    for x in range(m):
        i = ids[x]
        no, err = evolve(S, rc, flag, cur, i, b_time[i], b, ev_ptr, ev_t, ev_s, model,
                         cur_kind, par, quirks, dt, cf_dt, out_t, out_i, no)
        if err:
            return no, err
    return no, 0


@njit(cache=True, _nrt=False)
def _rebase(S, rc, flag, cur, bk, ids, m, aff, tH, hh):
    """Back the listed neurons up at time tH and clear their marks."""
    b_time = bk[4]
    for x in range(m):
        i = ids[x]
        b_time[i] = tH
        _save(S, rc, flag, cur, bk, i, hh)
        aff[i] = 0


@njit(cache=True, _nrt=False)
def _start(S, rc, flag, cur, t, t_end, ctx, bk, buf_t, buf_i, scr):
    """Back up every neuron at t and trial-evolve all to t_end: (pending count, err)."""
    (B, rcB, flB, curB, b_time, done) = bk
    _backup(S, rc, flag, cur, B, rcB, flB, curB)
    for i in range(S.shape[1]):
        b_time[i] = t
    return evolve_all(S, rc, flag, cur, t, t_end, ctx, buf_t, buf_i, scr)


@njit(cache=True, _nrt=False)
def step_ssc_sparse(S, rc, flag, cur, t, t_end, ctx, net, bk, sp, buf_t, buf_i, rec_t,
                    rec_i, scr):
    """SSC-Sparse (spec 9.3): returns (spikes recorded in rec_*, status)."""
    (ids, aff, fired, tm_t, tm_i) = sp
    model, par, quirks = ctx[3], ctx[5], ctx[6]
    (nE, post_ptr, post_idx, post_w, sc) = net
    np_, err = _start(S, rc, flag, cur, t, t_end, ctx, bk, buf_t, buf_i, scr)
    nrec = 0
    while np_ > 0 and not err:
        tH, jH, np_ = _pop_earliest(buf_t, buf_i, np_)
        m, twice = _affected(jH, True, net, ids, aff)
        for x in range(m):
            _restore(S, rc, flag, cur, bk, ids[x], is_hh(model))
        np_ = _drop_pending(buf_t, buf_i, np_, aff, bk[4], tH, True)
        nt, err = _evolve_list(S, rc, flag, cur, ids, m, not twice, bk[4], tH, ctx, tm_t,
                               tm_i, 0, scr)
        found = False
        for x in range(nt):
            if tm_i[x] == jH:
                found = True
            else:
                buf_t[np_], buf_i[np_] = tH, tm_i[x]
                np_ += 1
        if not found:
            force_reset(S, rc, flag, jH, model, par, quirks)
        deliver(S, jH, nE, post_ptr, post_idx, post_w, sc, True, model)
        if nrec >= rec_t.shape[0]:
            return nrec, ST_TOO_MANY
        rec_t[nrec], rec_i[nrec] = tH, jH
        nrec += 1
        _rebase(S, rc, flag, cur, bk, ids, m, aff, tH, is_hh(model))
        np_, err2 = _evolve_list(S, rc, flag, cur, ids, m, not twice, bk[4], t_end, ctx,
                                 buf_t, buf_i, np_, scr)
        err = err or err2
    return nrec, err if err else ST_OK


@njit(cache=True, _nrt=False)
def step_ssc_sparse2(S, rc, flag, cur, t, t_end, ctx, net, bk, sp, buf_t, buf_i, rec_t,
                     rec_i, scr):
    """SSC-Sparse2 (spec 9.4): returns (spikes recorded in rec_*, status)."""
    (ids, aff, fired, tm_t, tm_i) = sp
    model = ctx[3]
    (nE, post_ptr, post_idx, post_w, sc) = net
    np_, err = _start(S, rc, flag, cur, t, t_end, ctx, bk, buf_t, buf_i, scr)
    nrec = 0
    while np_ > 0 and not err:
        tH, jH, np_ = _pop_earliest(buf_t, buf_i, np_)
        fired[jH] = 1
        m, twice = _affected(jH, False, net, ids, aff)
        for x in range(m):
            _restore(S, rc, flag, cur, bk, ids[x], is_hh(model))
        np_ = _drop_pending(buf_t, buf_i, np_, aff, bk[4], tH, False)
        nt, err = _evolve_list(S, rc, flag, cur, ids, m, not twice, bk[4], tH, ctx, tm_t,
                               tm_i, 0, scr)
        for x in range(nt):
            if not fired[tm_i[x]]:
                buf_t[np_], buf_i[np_] = tH, tm_i[x]
                np_ += 1
        deliver(S, jH, nE, post_ptr, post_idx, post_w, sc, True, model)
        if nrec >= rec_t.shape[0]:
            return nrec, ST_TOO_MANY
        rec_t[nrec], rec_i[nrec] = tH, jH
        nrec += 1
        _rebase(S, rc, flag, cur, bk, ids, m, aff, tH, is_hh(model))
        nt, err2 = _evolve_list(S, rc, flag, cur, ids, m, not twice, bk[4], t_end, ctx,
                                tm_t, tm_i, 0, scr)
        err = err or err2
        for x in range(nt):
            if not fired[tm_i[x]]:
                buf_t[np_], buf_i[np_] = tm_t[x], tm_i[x]
                np_ += 1
    for x in range(nrec):
        fired[rec_i[x]] = 0
    return nrec, err if err else ST_OK
