"""Numba chunk loop of a network of one HH neuron (simple method), state kept in registers.

A lone neuron is bound by the dependency chain of its RK4 step, so every load and store of
the state array and every call level on the way shows in its speed (a 100-s run takes 3.2
million steps). ``hh_single`` keeps V, h, m, n and the conductances in local variables over
quiet steps and falls back to kernels_step.evolve (through the state array) for steps with
input events, a partial step or a pending forced reset. Both paths inline the same
arithmetic as the network loops, so the numbers are bit for bit those of run_chunk's
general path (a lone neuron has no synapses: SSC and big-delay reduce to simple).
"""
from numba import njit

from neunet.sim.kernels_neuron import P_QC, P_THRESH, ext_current, hh_candidate, hh_rk4_vals
from neunet.sim.kernels_step import ST_MULTI, ST_OK, ST_OUT_FULL, evolve, hh_spike_time, sort_spikes


@njit(cache=True, inline='always')
def _store(S, v, x, y, z, ge, gi, he, hi):
    """Write the register state back into column 0 of S."""
    S[0, 0], S[1, 0], S[2, 0], S[3, 0] = v, x, y, z
    S[4, 0], S[5, 0], S[6, 0], S[7, 0] = ge, gi, he, hi


@njit(cache=True, inline='always')
def _sample(rows, r, v, x, y, z, ge, gi, rec_c, rec_g):
    """Write sample row r (V; gE, gI and h, m, n if recorded)."""
    rows[0][r, 0] = v
    if rec_c:
        rows[1][r, 0], rows[1][r, 1] = ge, gi
    if rec_g:
        rows[2][r, 0], rows[2][r, 1], rows[2][r, 2] = x, y, z


@njit(cache=True, inline='always')
def _event_step(S, rc, flag, cur, t, b, k, ctx, buf_t, buf_i, out, n_out):
    """Step k through `evolve` (input events, a short step or a pending flag), its spikes
    appended to `out` in time order: (n_out, multiple-spikes error)."""
    (ev_ptr, ev_t, ev_s, model, cur_kind, par, quirks, dt, cf_dt) = ctx
    out_k, out_i, out_t = out
    nb, err = evolve(S, rc, flag, cur, 0, t, b, ev_ptr, ev_t, ev_s, model, cur_kind, par,
                     quirks, dt, cf_dt, buf_t, buf_i, 0)
    sort_spikes(buf_t, buf_i, nb)
    for a in range(nb):
        out_k[n_out], out_i[n_out], out_t[n_out] = k, 0, buf_t[a]
        n_out += 1
    return n_out, err


@njit(cache=True, _nrt=False, error_model='numpy')
def hh_single(S, rc, flag, cur, t_start, k0, t_ends, ctx, row_of_step, rows, rec_c, rec_g,
              buf_t, buf_i, out, n_out):
    """run_chunk for one HH neuron with the simple method: (status, steps done, n_out).

    ST_OUT_FULL when the raster arrays `out` (out_k, out_i, out_t) might not hold the next
    step's spikes; ST_MULTI on "Multiple spikes in one dt" from the event path.
    """
    (ev_ptr, ev_t, ev_s, model, cur_kind, par, quirks, dt, cf_dt) = ctx
    out_k, out_i, out_t = out
    th, stop, room = par[P_THRESH], ev_ptr[1], buf_t.shape[0]
    v, x, y, z = S[0, 0], S[1, 0], S[2, 0], S[3, 0]
    ge, gi, he, hi = S[4, 0], S[5, 0], S[6, 0], S[7, 0]
    t, k, status = t_start, k0, ST_OK
    while k < t_ends.shape[0]:
        if n_out + room > out_k.shape[0]:
            status = ST_OUT_FULL
            break
        b = t_ends[k]
        e = cur[0]
        if (e < stop and ev_t[e] < b) or b - t != dt or flag[0]:
            _store(S, v, x, y, z, ge, gi, he, hi)
            n_out, err = _event_step(S, rc, flag, cur, t, b, k, ctx, buf_t, buf_i, out, n_out)
            v, x, y, z = S[0, 0], S[1, 0], S[2, 0], S[3, 0]
            ge, gi, he, hi = S[4, 0], S[5, 0], S[6, 0], S[7, 0]
            if err:
                status = ST_MULTI
                break
        else:
            par[P_QC], c0 = par[P_QC] + 1.0, ext_current(cur_kind, par, 0, t)
            ch = ext_current(cur_kind, par, 0, t + 0.5 * dt)
            c1 = ext_current(cur_kind, par, 0, t + dt)
            v0 = v
            v, x, y, z, ge, gi, he, hi, k1 = hh_rk4_vals(v, x, y, z, ge, gi, he, hi, c0, ch,
                                                          c1, dt, cf_dt)
            if hh_candidate(model, v0, v, k1, th):
                _store(S, v, x, y, z, ge, gi, he, hi)
                ts = hh_spike_time(S, 0, t, dt, v0, v, k1, c1, model, cur_kind, par, quirks)
                if ts >= 0.0:
                    out_k[n_out], out_i[n_out], out_t[n_out] = k, 0, t + ts
                    n_out += 1
        r = row_of_step[k]
        if r >= 0:
            _sample(rows, r, v, x, y, z, ge, gi, rec_c, rec_g)
        t = b
        k += 1
    _store(S, v, x, y, z, ge, gi, he, hi)
    return status, k, n_out
