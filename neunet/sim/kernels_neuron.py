"""Single-neuron numba physics: model constants, mixed RK4 quiet steps, spike-time interpolation.

State is structure-of-arrays: ``S`` has shape (8, n) with rows V, h, m, n, gE, gI, HE, HI for
every model (LIF models leave h, m, n unused; G models leave HE, HI at 0). ``rc`` holds the LIF
refractory clocks (ms spent refractory, 0 = active); ``flag`` the HH "just forced" flags.
Everything here is ``@njit(cache=True)``: arrays and scalars in, no validation, no I/O.
"""
import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

# Model ids (engine.MODELS maps names to these).
LIF_G, LIF_GH, DIF_GH, HH_G, HH_GH, HH_PT, HH_FT = 0, 1, 2, 3, 4, 5, 6
# External current kinds: none, A*sin(2*pi*f*t + 2*pi*j/n), constant.
CUR_NONE, CUR_SINE, CUR_CONST = 0, 1, 2
# Row of each state variable in S.
RV, RH, RM, RN, RGE, RGI, RHE, RHI = 0, 1, 2, 3, 4, 5, 6, 7
# Indices into the float parameter vector `par`.
P_THRESH, P_TREF, P_AMP, P_FREQ, P_EXTI, P_N = 0, 1, 2, 3, 4, 5
# Length of `par`.
N_PAR = 6
# Smallest normal double: the reference adds it to refractory clocks.
DBL_MIN = 2.2250738585072014e-308
# LIF: leak conductance (1/ms), reversal potentials (dimensionless), reset, DIF alpha.
LIF_GL, LIF_VL, LIF_VE, LIF_VI, LIF_VRESET, DIF_ALPHA = 0.05, 0.0, 14.0 / 3.0, -2.0 / 3.0, 0.0, 0.01
# LIF near-threshold parabola check level (fixed even with --set-threshold).
LIF_NEAR = 0.996
# LIF-G conductance time constants (ms).
LIFG_TE, LIFG_TI = 2.0, 5.0
# LIF-GH / DIF: G and H time constants (ms), E then I.
LIFGH_TGE, LIFGH_THE, LIFGH_TGI, LIFGH_THI = 2.0, 0.5, 5.0, 0.8
# HH reversal potentials (mV) and maximal conductances (mS/cm^2).
HH_VNA, HH_VK, HH_VL, HH_GNA, HH_GK, HH_GL = 115.0, -12.0, 10.6, 120.0, 36.0, 0.3
# HH synaptic reversal potentials (mV).
HH_VGE, HH_VGI = 65.0, -15.0
# HH-GH family: G and H time constants (ms), E then I.
HHGH_TGE, HHGH_THE, HHGH_TGI, HHGH_THI = 0.5, 3.0, 0.5, 7.0
# HH-G single-exponential time constants (ms).
HHG_TE, HHG_TI = 3.0, 7.0


@intrinsic
def _bits_to_f64(typingctx, x):
    """Reinterpret an int64 as the float64 with the same bits."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def _f64_to_bits(typingctx, x):
    """Reinterpret a float64 as the int64 with the same bits."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


# exp range reduction: log2(e) and ln(2) split in a high part (exact products) and a low part.
_LOG2E, _LN2_HI, _LN2_LO = 1.4426950408889634, 0.6931471803691238, 1.9082149292705877e-10
# exp argument clamp keeping 2^k a normal double.
_EXP_MAX = 700.0
# 1.5 * 2^52: adding it to an integer-valued double k puts k in the low mantissa bits.
_ROUND_MAGIC = 6755399441055744.0


@njit(cache=True, inline='always')
def fexp(x):
    """exp(x) to about 1 ulp, branch-free so loops over neurons vectorize (no SVML in numba).

    Range reduction x = k*ln2 + r (|r| <= ln2/2), degree-12 Taylor polynomial of exp(r) by
    Estrin's scheme, scaling by 2^k through the exponent bits. k reaches the exponent field
    through the bits of k + 1.5*2^52 (integer adds and shifts), not a double -> int64
    conversion: AVX2 has no packed one, and LLVM would scalarize every lane of the loop.
    """
    x = min(max(x, -_EXP_MAX), _EXP_MAX)
    k = np.floor(x * _LOG2E + 0.5)     # a double: math.floor would give an int64
    r = (x - k * _LN2_HI) - k * _LN2_LO
    r2 = r * r
    r4 = r2 * r2
    r8 = r4 * r4
    p01 = 1.0 + r
    p23 = 0.5 + r * (1.0 / 6.0)
    p45 = 1.0 / 24.0 + r * (1.0 / 120.0)
    p67 = 1.0 / 720.0 + r * (1.0 / 5040.0)
    p89 = 1.0 / 40320.0 + r * (1.0 / 362880.0)
    pab = 1.0 / 3628800.0 + r * (1.0 / 39916800.0)
    pc = 1.0 / 479001600.0
    p = (p01 + r2 * p23) + r4 * (p45 + r2 * p67) + r8 * ((p89 + r2 * pab) + r4 * pc)
    return p * _bits_to_f64((_f64_to_bits(k + _ROUND_MAGIC) + 1023) << 52)


@njit(cache=True, inline='always')
def is_hh(model):
    """True for the Hodgkin-Huxley family."""
    return model >= HH_G


@njit(cache=True, inline='always')
def inject_rows(model):
    """Rows of S that excitatory and inhibitory input increments."""
    if model == LIF_G or model == HH_G:
        return RGE, RGI
    return RHE, RHI


@njit(cache=True, inline='always')
def inject(S, i, s, model):
    """Add an input of strength s (>= 0: excitatory, < 0: inhibitory |s|) to neuron i."""
    re, ri = inject_rows(model)
    if s >= 0.0:
        S[re, i] += s
    else:
        S[ri, i] -= s


@njit(cache=True)
def cond_coefs(model, h, quirks):
    """Exact conductance propagator over h: g <- a*g + b*H, H <- c*H for E and I.

    Returns (aE, bE, cE, aI, bI, cI). With quirks the HH-GH family uses the reference's
    tau_gI*tau_gI_s1/(tau_gI - tau_gE_s1) factor for the inhibitory pair.
    """
    return cond_coefs_vals(model, h, quirks)


@njit(cache=True, inline='always')
def cond_coefs_vals(model, h, quirks):
    """cond_coefs inlined (branch-free in h: usable in loops over neurons that vectorize)."""
    if model == LIF_G or model == HH_G:
        te, ti = (LIFG_TE, LIFG_TI) if model == LIF_G else (HHG_TE, HHG_TI)
        return fexp(-h / te), 0.0, 1.0, fexp(-h / ti), 0.0, 1.0
    if model <= DIF_GH:
        tge, the, tgi, thi = LIFGH_TGE, LIFGH_THE, LIFGH_TGI, LIFGH_THI
        ki = tgi * thi / (tgi - thi)
    else:
        tge, the, tgi, thi = HHGH_TGE, HHGH_THE, HHGH_TGI, HHGH_THI
        ki = tgi * thi / ((tgi - the) if quirks else (tgi - thi))
    ke = tge * the / (tge - the)
    aE, cE = fexp(-h / tge), fexp(-h / the)
    aI, cI = fexp(-h / tgi), fexp(-h / thi)
    return aE, (aE - cE) * ke, cE, aI, (aI - cI) * ki, cI


@njit(cache=True, inline='always')
def advance_cond(S, i, cf):
    """Apply propagator coefficients cf (from cond_coefs) to neuron i's conductances."""
    aE, bE, cE, aI, bI, cI = cf
    S[RGE, i] = aE * S[RGE, i] + bE * S[RHE, i]
    S[RHE, i] = cE * S[RHE, i]
    S[RGI, i] = aI * S[RGI, i] + bI * S[RHI, i]
    S[RHI, i] = cI * S[RHI, i]


@njit(cache=True, inline='always')
def lif_f(model, v, ge, gi):
    """dV/dt of the LIF family (DIF adds alpha*gE*gI*(V - V_E))."""
    f = -LIF_GL * (v - LIF_VL) - ge * (v - LIF_VE) - gi * (v - LIF_VI)
    if model == DIF_GH:
        f += DIF_ALPHA * ge * gi * (v - LIF_VE)
    return f


@njit(cache=True, inline='always')
def hh_f(v, h, m, n, ge, gi, cur):
    """Right-hand side (dV, dh, dm, dn) of the HH equations with external current cur.

    Two exponentials (exp(-V/80) gives exp(-V/20) and exp(-V/10) by squaring) and one
    division for the three rational rates.
    """
    y = fexp(-0.0125 * v)
    y4 = y * y
    y4 = y4 * y4
    e1 = y4 * y4                                 # exp(-0.1 V)
    dm = 12.182493960703473 * e1 - 1.0           # exp(2.5 - 0.1 V) - 1
    dh = 20.085536923187668 * e1 + 1.0           # exp(3 - 0.1 V) + 1
    dn = 2.718281828459045 * e1 - 1.0            # exp(1 - 0.1 V) - 1
    inv = 1.0 / (dm * dh * dn)
    am = (2.5 - 0.1 * v) * (dh * dn) * inv
    bh = (dm * dn) * inv
    an = (0.1 - 0.01 * v) * (dm * dh) * inv
    bm = 4.0 * fexp(v * (-1.0 / 18.0))
    ah = 0.07 * y4
    bn = 0.125 * y
    m3h = m * m * m * h
    n4 = n * n
    n4 = n4 * n4
    dv = (-HH_GNA * m3h * (v - HH_VNA) - HH_GK * n4 * (v - HH_VK) - HH_GL * (v - HH_VL)
          - ge * (v - HH_VGE) - gi * (v - HH_VGI) + cur)
    return dv, ah - h * (ah + bh), am - m * (am + bm), an - n * (an + bn)


@njit(cache=True, inline='always')
def ext_current(cur_kind, par, i, t):
    """External current of neuron i at absolute time t (ms)."""
    if cur_kind == CUR_SINE:
        return par[P_AMP] * math.sin(2.0 * math.pi * par[P_FREQ] * t + 2.0 * math.pi * i / par[P_N])
    if cur_kind == CUR_CONST:
        return par[P_EXTI]
    return 0.0


@njit(cache=True)
def solve_quadratic(a, b, c):
    """Real roots of a*x^2 + b*x + c, ascending: (count, x0, x1); a = 0 gives the linear root."""
    if a == 0.0:
        if b == 0.0:
            return 0, 0.0, 0.0
        return 1, -c / b, 0.0
    disc = b * b - 4.0 * a * c
    if disc < 0.0:
        return 0, 0.0, 0.0
    if disc == 0.0:
        x = -0.5 * b / a
        return 2, x, x
    q = -0.5 * (b + math.copysign(math.sqrt(disc), b))
    x0, x1 = q / a, c / q
    if x0 > x1:
        x0, x1 = x1, x0
    return 2, x0, x1


@njit(cache=True)
def solve_cubic(a, b, c):
    """Real roots of the monic cubic x^3 + a x^2 + b x + c: (count, x0, x1, x2), closed form."""
    q = a * a - 3.0 * b
    r = 2.0 * a * a * a - 9.0 * a * b + 27.0 * c
    Q, R = q / 9.0, r / 54.0
    Q3, R2 = Q * Q * Q, R * R
    if R == 0.0 and Q == 0.0:
        x = -a / 3.0
        return 3, x, x, x
    if 729.0 * r * r == 2916.0 * q * q * q:
        sq = math.sqrt(Q)
        if R > 0.0:
            return 3, -2.0 * sq - a / 3.0, sq - a / 3.0, sq - a / 3.0
        return 3, -sq - a / 3.0, -sq - a / 3.0, 2.0 * sq - a / 3.0
    if R2 < Q3:
        ratio = math.copysign(math.sqrt(R2 / Q3), R)
        theta = math.acos(ratio)
        norm = -2.0 * math.sqrt(Q)
        x0 = norm * math.cos(theta / 3.0) - a / 3.0
        x1 = norm * math.cos((theta + 2.0 * math.pi) / 3.0) - a / 3.0
        x2 = norm * math.cos((theta - 2.0 * math.pi) / 3.0) - a / 3.0
        return 3, x0, x1, x2
    A = -math.copysign(1.0, R) * (abs(R) + math.sqrt(R2 - Q3)) ** (1.0 / 3.0)
    B = Q / A if A != 0.0 else 0.0
    return 1, A + B - a / 3.0, 0.0, 0.0


@njit(cache=True, inline='always')
def _first_in_unit(cnt, x0, x1, x2):
    """Smallest of the first cnt values lying in [0, 1], or -1."""
    best = 2.0
    if cnt > 0 and 0.0 <= x0 <= 1.0:
        best = x0
    if cnt > 1 and 0.0 <= x1 <= 1.0 and x1 < best:
        best = x1
    if cnt > 2 and 0.0 <= x2 <= 1.0 and x2 < best:
        best = x2
    return best if best <= 1.0 else -1.0


@njit(cache=True)
def _cubic_fallback(c0, c1, c2, c3, quirks):
    """Root of the Hermite cubic bracketed by a sign change over [0, 1] (normalised s).

    The reference takes 6 bisections then 4 Newton steps, which can stop ~1e-4 short of a
    root where the cubic is flat (quirks); by default the bisection runs until the bracket
    stops shrinking, so the root is exact to round-off.
    """
    lo, hi = 0.0, 1.0
    for _ in range(6 if quirks else 80):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        pm = c0 + mid * (c1 + mid * (c2 + mid * c3))
        if (pm > 0.0) == (c0 > 0.0):
            lo = mid
        else:
            hi = mid
    s = 0.5 * (lo + hi)
    if not quirks:
        return s
    for _ in range(4):
        dp = c1 + s * (2.0 * c2 + 3.0 * s * c3)
        if dp == 0.0:
            break
        s -= (c0 + s * (c1 + s * (c2 + s * c3))) / dp
    return s


@njit(cache=True)
def hermite_root(v0, v1, d0, d1, th, h, quirks):
    """Local time (in [0, h]) where the cubic Hermite interpolant first reaches th, or -1.

    Under quirks the fallback path returns the normalised root (not multiplied by h).
    """
    c0 = v0 - th
    c1 = h * d0
    c2 = 3.0 * (v1 - v0) - 2.0 * h * d0 - h * d1
    c3 = 2.0 * (v0 - v1) + h * d0 + h * d1
    if c0 == 0.0:
        return 0.0
    if c3 == 0.0:
        if c2 == 0.0 and c1 == 0.0:
            return 0.0
        cnt, x0, x1 = solve_quadratic(c2, c1, c0)
        s = _first_in_unit(cnt, x0, x1, 2.0)
    else:
        cnt, u0, u1, u2 = solve_cubic(c1 / c0, c2 / c0, c3 / c0)
        s0 = 1.0 / u0 if u0 != 0.0 else -1.0
        s1 = 1.0 / u1 if u1 != 0.0 else -1.0
        s2 = 1.0 / u2 if u2 != 0.0 else -1.0
        s = _first_in_unit(cnt, s0, s1, s2)
    if s >= 0.0:
        return h * s
    if c0 * (v1 - th) <= 0.0:
        s = _cubic_fallback(c0, c1, c2, c3, quirks)
        return s if quirks else h * s
    return -1.0


@njit(cache=True)
def _peak_once(v0, v1, d0, d1, h):
    """Local time of a maximum of the Hermite interpolant in [0, h], or -1."""
    c1 = h * d0
    c2 = 3.0 * (v1 - v0) - 2.0 * h * d0 - h * d1
    c3 = 2.0 * (v0 - v1) + h * d0 + h * d1
    cnt, x0, x1 = solve_quadratic(3.0 * c3, 2.0 * c2, c1)
    if cnt > 0 and 0.0 <= x0 <= 1.0 and 2.0 * c2 + 6.0 * c3 * x0 < 0.0:
        return h * x0
    if cnt > 1 and 0.0 <= x1 <= 1.0 and 2.0 * c2 + 6.0 * c3 * x1 < 0.0:
        return h * x1
    return -1.0


@njit(cache=True)
def hermite_peak(v0, v1, d0, d1, h, quirks):
    """Peak time of the Hermite interpolant (HH-PT), with the reference's mirrored retry.

    Under quirks the retry passes the already h-scaled slopes (effectively h^2 * d).
    """
    t = _peak_once(v0, v1, d0, d1, h)
    if t >= 0.0:
        return t
    if h * d0 >= 0.0 >= h * d1 and h * d0 > -h * d1:
        if quirks:
            t = _peak_once(v1, v0, -h * d1, -h * d0, h)
        else:
            t = _peak_once(v1, v0, -d1, -d0, h)
        if t >= 0.0:
            return h - t
    return -1.0


@njit(cache=True, inline='always')
def cond_vals(ge, gi, he, hi, cf):
    """Conductances (gE, gI, HE, HI) advanced by propagator coefficients cf."""
    aE, bE, cE, aI, bI, cI = cf
    return aE * ge + bE * he, aI * gi + bI * hi, cE * he, cI * hi


@njit(cache=True, inline='always')
def hh_rk4_vals(v0, x0, y0, z0, ge, gi, he, hi, c0, ch, c1, h, cfh):
    """Mixed RK4 (spec 7.2) of one HH neuron over h, on values.

    Returns (V, h, m, n, gE, gI, HE, HI) at the end and k1 = dV/dt at the start. c0, ch, c1
    are the external current at the start, middle and end; cfh the propagator over h/2.
    """
    a1, b1, d1, e1 = hh_f(v0, x0, y0, z0, ge, gi, c0)
    ge, gi, he, hi = cond_vals(ge, gi, he, hi, cfh)
    hh2 = 0.5 * h
    a2, b2, d2, e2 = hh_f(v0 + hh2 * a1, x0 + hh2 * b1, y0 + hh2 * d1, z0 + hh2 * e1, ge, gi, ch)
    a3, b3, d3, e3 = hh_f(v0 + hh2 * a2, x0 + hh2 * b2, y0 + hh2 * d2, z0 + hh2 * e2, ge, gi, ch)
    ge, gi, he, hi = cond_vals(ge, gi, he, hi, cfh)
    a4, b4, d4, e4 = hh_f(v0 + h * a3, x0 + h * b3, y0 + h * d3, z0 + h * e3, ge, gi, c1)
    h6 = h / 6.0
    return (v0 + h6 * (a1 + 2.0 * a2 + 2.0 * a3 + a4), x0 + h6 * (b1 + 2.0 * b2 + 2.0 * b3 + b4),
            y0 + h6 * (d1 + 2.0 * d2 + 2.0 * d3 + d4), z0 + h6 * (e1 + 2.0 * e2 + 2.0 * e3 + e4),
            ge, gi, he, hi, a1)


@njit(cache=True, inline='always')
def lif_rk4_vals(model, v0, ge, gi, he, hi, h, cfh):
    """Mixed RK4 of one LIF-family neuron over h: (V, gE, gI, HE, HI) at the end and k1."""
    k1 = lif_f(model, v0, ge, gi)
    ge, gi, he, hi = cond_vals(ge, gi, he, hi, cfh)
    k2 = lif_f(model, v0 + 0.5 * h * k1, ge, gi)
    k3 = lif_f(model, v0 + 0.5 * h * k2, ge, gi)
    ge, gi, he, hi = cond_vals(ge, gi, he, hi, cfh)
    k4 = lif_f(model, v0 + h * k3, ge, gi)
    return v0 + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4), ge, gi, he, hi, k1
