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
