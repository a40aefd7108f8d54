"""Numba HH-GH-cont-syn kernels (spec 8.6, 9.7): the whole network by classical RK4.

State S (8, n): V (units of 10 mV), h, m, n, gE, gI, HE, HI. All eight variables are
integrated together by classical RK4 (no exact conductance propagator), and synapses are
continuous: every presynaptic neuron j with V_j > 4 drives dHE/dt (E neuron) or dHI/dt (I)
of its post neurons i by sc A[i][j] / (1 + exp(-5 (V_j - 8.5))). Input events split a step
into sub-steps at their times (each event: RK4 of the network up to it, then the increment);
spikes (V crossing the threshold upwards) are only recorded, timed by bisection on the cubic
Hermite interpolant of the sub-step, as the reference does.
"""
import math

from numba import njit

from neunet.sim.kernels_events import gather_step
from neunet.sim.kernels_neuron import RGE, RGI, RH, RHE, RHI, RM, RN, RV, fexp
from neunet.sim.kernels_step import ST_OK, ST_OUT_FULL, sort_spikes

# Reversal potentials (10 mV) and maximal conductances (mS/cm^2).
CS_VNA, CS_VK, CS_VL, CS_GNA, CS_GK, CS_GL = 11.5, -1.2, 1.06, 120.0, 36.0, 0.3
# Synaptic reversal potentials (10 mV).
CS_VGE, CS_VGI = 6.5, -1.5
# G and H time constants (ms), E then I.
CS_TGE, CS_THE, CS_TGI, CS_THI = 0.5, 3.0, 0.5, 7.0
# A presynaptic neuron drives its synapses only above this V (10 mV).
SYN_V_MIN = 4.0
# Synaptic activation 1 / (1 + exp(-SYN_SLOPE (V - SYN_HALF))).
SYN_SLOPE, SYN_HALF = 5.0, 8.5
# Spike-time bisection: stop when |interpolant - threshold| < ROOT_TOL, at most ROOT_ITER.
ROOT_TOL, ROOT_ITER = 1.0e-12, 50
# exp(-2.5), exp(0.5), exp(-1.5): the rate functions' constant factors.
_E_M25, _E_P05, _E_M15 = math.exp(-2.5), math.exp(0.5), math.exp(-1.5)


@njit(cache=True, inline='always')
def cs_dv(v, h, m, n, ge, gi):
    """dV/dt of one neuron (without the synapses' drive, which acts on HE and HI)."""
    return (-CS_GL * (v - CS_VL) - CS_GNA * m * m * m * h * (v - CS_VNA)
            - CS_GK * n * n * n * n * (v - CS_VK) - ge * (v - CS_VGE) - gi * (v - CS_VGI))


@njit(cache=True, _nrt=False, error_model='numpy')
def _local(D, X):
    """D := the neurons' own derivatives at state X (the rate formulas of the reference)."""
    for i in range(X.shape[1]):
        v, h, m, n = X[RV, i], X[RH, i], X[RM, i], X[RN, i]
        ge, gi, he, hi = X[RGE, i], X[RGI, i], X[RHE, i], X[RHI, i]
        e1 = fexp(2.5 - v)
        e2 = fexp(v * (-1.0 / 1.8))
        D[RV, i] = cs_dv(v, h, m, n, ge, gi)
        D[RM, i] = (v - 2.5) / (1.0 - e1) * (1.0 - m) - 4.0 * e2 * m
        e2 = math.sqrt(e1 * _E_M25)
        D[RH, i] = 0.07 * e2 * (1.0 - h) - h / (1.0 + e1 * _E_P05)
        e2 = math.sqrt(math.sqrt(e2))
        D[RN, i] = 0.1 * (v - 1.0) / (1.0 - e1 * _E_M15) * (1.0 - n) - 0.125 * e2 * n
        D[RGE, i] = -ge * (1.0 / CS_TGE) + he
        D[RGI, i] = -gi * (1.0 / CS_TGI) + hi
        D[RHE, i] = -he * (1.0 / CS_THE)
        D[RHI, i] = -hi * (1.0 / CS_THI)


@njit(cache=True, _nrt=False)
def _synapses(D, X, net):
    """Add the continuous synaptic drive to dHE/dt and dHI/dt (E neurons first, as the
    reference sums them)."""
    (nE, post_ptr, post_idx, post_w, sc) = net
    for j in range(X.shape[1]):
        v = X[RV, j]
        if v <= SYN_V_MIN:
            continue
        act = 1.0 / (1.0 + fexp(-SYN_SLOPE * (v - SYN_HALF)))
        row = RHE if j < nE else RHI
        for e in range(post_ptr[j], post_ptr[j + 1]):
            i = post_idx[e]
            if j < nE:
                s = sc[0] if i < nE else sc[1]
            else:
                s = sc[2] if i < nE else sc[3]
            D[row, i] += s * post_w[e] * act


@njit(cache=True, _nrt=False, error_model='numpy')
def _axpy(Y, X, K, a):
    """Y := X + K * a, element by element."""
    for r in range(8):
        for i in range(X.shape[1]):
            Y[r, i] = X[r, i] + K[r, i] * a


@njit(cache=True, _nrt=False, error_model='numpy')
def _combine(S, X, K1, K2, K3, K4, h):
    """S := X + (K1 + 2 K2 + 2 K3 + K4) * (h / 6)."""
    w = h / 6.0
    for r in range(8):
        for i in range(X.shape[1]):
            S[r, i] = X[r, i] + (K1[r, i] + 2.0 * K2[r, i] + 2.0 * K3[r, i] + K4[r, i]) * w


@njit(cache=True, _nrt=False)
def _derivs(D, X, net):
    """D := dX/dt of the whole network."""
    _local(D, X)
    _synapses(D, X, net)


@njit(cache=True, inline='always')
def _hermite(b, va, vb, dva, dvb, th, x):
    """Cubic Hermite interpolant on [0, b] minus th at x (the reference's formula)."""
    f1 = va * (2.0 * x + b) * (x - b) * (x - b) / b / b / b
    f2 = vb * (3.0 * b - 2.0 * x) * x * x / b / b / b
    f3 = dva * x * (x - b) * (x - b) / b / b
    f4 = dvb * x * x * (x - b) / b / b
    return f1 + f2 + f3 + f4 - th


@njit(cache=True, _nrt=False)
def spike_time(b, va, vb, dva, dvb, th):
    """Local time of the threshold crossing in [0, b]: bisection, at most ROOT_ITER halvings,
    stopping where |interpolant - th| < ROOT_TOL (0 if the ends do not bracket it)."""
    if _hermite(b, va, vb, dva, dvb, th, 0.0) * _hermite(b, va, vb, dva, dvb, th, b) > 0.0:
        return 0.0
    lo, hi, mid = 0.0, b, 0.0
    for _ in range(ROOT_ITER):
        mid = lo + (hi - lo) / 2.0
        f = _hermite(b, va, vb, dva, dvb, th, mid)
        if f <= 0.0:
            lo = mid
        else:
            hi = mid
        if abs(f) < ROOT_TOL:
            return mid
    return mid


@njit(cache=True, _nrt=False)
def rk4_network(S, h, t0, net, th, scr, buf_t, buf_i):
    """Classical RK4 of the whole network over h from t0; returns the spikes found (buffered
    in buf_* in (time, neuron) order)."""
    (X, Y, K1, K2, K3, K4) = scr
    for r in range(8):
        for i in range(S.shape[1]):
            X[r, i] = S[r, i]
    _derivs(K1, X, net)
    _axpy(Y, X, K1, h / 2.0)
    _derivs(K2, Y, net)
    _axpy(Y, X, K2, h / 2.0)
    _derivs(K3, Y, net)
    _axpy(Y, X, K3, h)
    _derivs(K4, Y, net)
    _combine(S, X, K1, K2, K3, K4, h)
    nb = 0
    for i in range(S.shape[1]):
        if S[RV, i] >= th and X[RV, i] < th:
            dva = cs_dv(X[RV, i], X[RH, i], X[RM, i], X[RN, i], X[RGE, i], X[RGI, i])
            dvb = cs_dv(S[RV, i], S[RH, i], S[RM, i], S[RN, i], S[RGE, i], S[RGI, i])
            buf_t[nb] = t0 + spike_time(h, X[RV, i], S[RV, i], dva, dvb, th)
            buf_i[nb] = i
            nb += 1
    sort_spikes(buf_t, buf_i, nb)
    return nb


@njit(cache=True, _nrt=False)
def contsyn_chunk(S, th, t, t_ends, k, cur, ev, g, gctl, net, row_of_step, rows, rec_c,
                  rec_g, scr, buf_t, buf_i, out, n_out):
    """cont-syn over the steps k, k+1, ... ending at t_ends, from time t. ev = (ptr, times,
    strengths) the chunk's events by neuron, cur each neuron's next one, g the step buffer
    (kernels_events) and gctl = [next, count, step] its position (step -1 at a chunk's
    start). Returns (status, step, time reached, n_out)."""
    n = S.shape[1]
    ev_t, ev_i, ev_s = g[0], g[1], g[2]
    while k < t_ends.shape[0]:
        t_end = t_ends[k]
        if gctl[2] != k:
            gctl[1] = gather_step(cur, ev[0], ev[1], ev[2], t_end, g)
            gctl[0], gctl[2] = 0, k
        e, m = gctl[0], gctl[1]
        while True:
            if n_out + n > out[0].shape[0]:
                gctl[0] = e
                return ST_OUT_FULL, k, t, n_out
            last = not (e < m)
            t_to = t_end if last else ev_t[e]
            if t_to - t > 0.0:
                nb = rk4_network(S, t_to - t, t, net, th, scr, buf_t, buf_i)
                for x in range(nb):
                    out[0][n_out], out[1][n_out], out[2][n_out] = k, buf_i[x], buf_t[x]
                    n_out += 1
            t = t_to
            if last:
                break
            j, s = ev_i[e], ev_s[e]
            if s >= 0.0:
                S[RHE, j] += s
            else:
                S[RHI, j] -= s
            e += 1
        gctl[0] = e
        if row_of_step[k] >= 0:
            _write_row(S, row_of_step[k], rows, rec_c, rec_g)
        k += 1
    return ST_OK, k, t, n_out


@njit(cache=True, _nrt=False)
def _write_row(S, r, rows, rec_c, rec_g):
    """Sample row r: V; gE, gI; h, m, n."""
    for i in range(S.shape[1]):
        rows[0][r, i] = S[RV, i]
        if rec_c:
            rows[1][r, 2 * i], rows[1][r, 2 * i + 1] = S[RGE, i], S[RGI, i]
        if rec_g:
            rows[2][r, 3 * i], rows[2][r, 3 * i + 1] = S[RH, i], S[RM, i]
            rows[2][r, 3 * i + 2] = S[RN, i]
