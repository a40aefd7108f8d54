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

# Model ids (engine.MODELS maps names to these); IF-jump, cont-syn and Hawkes-GH have kernels of
# their own (kernels_ifjump, kernels_contsyn, kernels_hawkes).
LIF_G, LIF_GH, DIF_GH, HH_G, HH_GH, HH_PT, HH_FT = 0, 1, 2, 3, 4, 5, 6
# Model ids of the models with kernels of their own.
IF_JUMP, CONT_SYN, HAWKES = 7, 8, 9
# External current kinds: none, A*sin(2*pi*f*t + 2*pi*j/n), constant.
CUR_NONE, CUR_SINE, CUR_CONST = 0, 1, 2
# Row of each state variable in S.
RV, RH, RM, RN, RGE, RGI, RHE, RHI = 0, 1, 2, 3, 4, 5, 6, 7
# Indices into the float parameter vector `par`: threshold, T_ref, sine amplitude and
# frequency, extI, n, the quiet-step counter (the kernels add to it), heterogeneous flag.
P_THRESH, P_TREF, P_AMP, P_FREQ, P_EXTI, P_N, P_QC, P_HET = 0, 1, 2, 3, 4, 5, 6, 7
# Length of `par` without per-neuron constants.
N_PAR = 8
# Heterogeneous models: `par` continues with P_KN constants per neuron (neuron i's block starts
# at N_PAR + i * P_KN): LIF-GH/DIF: threshold, V_reset, V_L, V_E, V_I, G_L, alpha, T_ref and
# HH-GH: V_Na, V_K, V_L, G_Na, G_K, G_L, V_gE, V_gI; then both: tau_gE, tau_gE_s1, tau_gI,
# tau_gI_s1 (K_TAUS on) and, for HH-GH, the threshold (K_HH_THRESH).
P_KN = 13
# Offsets in a per-neuron block: the four time constants, the HH-GH threshold.
K_TAUS, K_HH_THRESH = 8, 12
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
# LIF dV/dt constants as the generic functions take them: V_L, V_E, V_I, G_L, DIF alpha.
LIF_KF = (LIF_VL, LIF_VE, LIF_VI, LIF_GL, DIF_ALPHA)
# HH dV/dt constants: V_Na, V_K, V_L, G_Na, G_K, G_L, V_gE, V_gI.
HH_KH = (HH_VNA, HH_VK, HH_VL, HH_GNA, HH_GK, HH_GL, HH_VGE, HH_VGI)


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
    """True for the Hodgkin-Huxley family of the network kernels (not cont-syn)."""
    return HH_G <= model <= HH_FT


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
    if model <= DIF_GH:
        return lif_coefs(model, h, lif_taus(model))
    if model == HH_G:
        return fexp(-h / HHG_TE), 0.0, 1.0, fexp(-h / HHG_TI), 0.0, 1.0
    return hh_coefs(h, (HHGH_TGE, HHGH_THE, HHGH_TGI, HHGH_THI), quirks)


@njit(cache=True, inline='always')
def gh_coefs(h, tge, the, tgi, thi, ki):
    """Propagator of the two-variable synapses over h, ki the inhibitory H factor."""
    ke = tge * the / (tge - the)
    aE, cE = fexp(-h / tge), fexp(-h / the)
    aI, cI = fexp(-h / tgi), fexp(-h / thi)
    return aE, (aE - cE) * ke, cE, aI, (aI - cI) * ki, cI


@njit(cache=True, inline='always')
def lif_taus(model):
    """Time constants (tau_gE, tau_gE_s1, tau_gI, tau_gI_s1) of a LIF-family model (LIF-G:
    the single-exponential ones in the tau_gE and tau_gI places)."""
    if model == LIF_G:
        return LIFG_TE, 1.0, LIFG_TI, 1.0
    return LIFGH_TGE, LIFGH_THE, LIFGH_TGI, LIFGH_THI


@njit(cache=True, inline='always')
def lif_coefs(model, h, taus):
    """Propagator of a LIF-family neuron with time constants taus (see lif_taus)."""
    tge, the, tgi, thi = taus
    if model == LIF_G:
        return fexp(-h / tge), 0.0, 1.0, fexp(-h / tgi), 0.0, 1.0
    return gh_coefs(h, tge, the, tgi, thi, tgi * thi / (tgi - thi))


@njit(cache=True, inline='always')
def hh_coefs(h, taus, quirks):
    """Propagator of an HH-GH neuron with time constants taus; with quirks the inhibitory
    factor uses tau_gI - tau_gE_s1 (the reference's kappa bug)."""
    tge, the, tgi, thi = taus
    return gh_coefs(h, tge, the, tgi, thi, tgi * thi / ((tgi - the) if quirks else (tgi - thi)))


@njit(cache=True, inline='always')
def het_taus(par, i):
    """Neuron i's time constants from its block of per-neuron constants."""
    b = N_PAR + i * P_KN + K_TAUS
    return par[b], par[b + 1], par[b + 2], par[b + 3]


@njit(cache=True, inline='always')
def het_lif(par, i):
    """Neuron i's LIF constants: (threshold, T_ref, V_reset, (V_L, V_E, V_I, G_L, alpha),
    taus), the tuple the LIF quiet step takes."""
    b = N_PAR + i * P_KN
    kf = (par[b + 2], par[b + 3], par[b + 4], par[b + 5], par[b + 6])
    return par[b], par[b + 7], par[b + 1], kf, het_taus(par, i)


@njit(cache=True, inline='always')
def het_hh(par, i):
    """Neuron i's HH constants: (threshold, (V_Na, V_K, V_L, G_Na, G_K, G_L, V_gE, V_gI))."""
    b = N_PAR + i * P_KN
    kh = (par[b], par[b + 1], par[b + 2], par[b + 3], par[b + 4], par[b + 5], par[b + 6],
          par[b + 7])
    return par[b + K_HH_THRESH], kh


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
    return lif_f_k(model, v, ge, gi, LIF_KF)


@njit(cache=True, inline='always')
def lif_f_k(model, v, ge, gi, kf):
    """lif_f with the constants kf = (V_L, V_E, V_I, G_L, alpha)."""
    vl, ve, vi, gl, alpha = kf
    f = -gl * (v - vl) - ge * (v - ve) - gi * (v - vi)
    if model == DIF_GH:
        f += alpha * ge * gi * (v - ve)
    return f


@njit(cache=True, inline='always')
def hh_f(v, h, m, n, ge, gi, cur):
    """Right-hand side (dV, dh, dm, dn) of the HH equations with external current cur."""
    return hh_f_k(v, h, m, n, ge, gi, cur, HH_KH)


@njit(cache=True, inline='always')
def hh_f_k(v, h, m, n, ge, gi, cur, kh):
    """hh_f with the constants kh (see HH_KH).

    Two exponentials (exp(-V/80) gives exp(-V/20) and exp(-V/10) by squaring) and one
    division for the three rational rates.
    """
    vna, vk, vl, gna, gk, gl, vge, vgi = kh
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
    dv = (-gna * m3h * (v - vna) - gk * n4 * (v - vk) - gl * (v - vl)
          - ge * (v - vge) - gi * (v - vgi) + cur)
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
    return hh_rk4_vals_k(v0, x0, y0, z0, ge, gi, he, hi, c0, ch, c1, h, cfh, HH_KH)


@njit(cache=True, inline='always')
def hh_rk4_vals_k(v0, x0, y0, z0, ge, gi, he, hi, c0, ch, c1, h, cfh, kh):
    """hh_rk4_vals with the HH constants kh (see HH_KH)."""
    a1, b1, d1, e1 = hh_f_k(v0, x0, y0, z0, ge, gi, c0, kh)
    ge, gi, he, hi = cond_vals(ge, gi, he, hi, cfh)
    hh2 = 0.5 * h
    a2, b2, d2, e2 = hh_f_k(v0 + hh2 * a1, x0 + hh2 * b1, y0 + hh2 * d1, z0 + hh2 * e1, ge, gi,
                            ch, kh)
    a3, b3, d3, e3 = hh_f_k(v0 + hh2 * a2, x0 + hh2 * b2, y0 + hh2 * d2, z0 + hh2 * e2, ge, gi,
                            ch, kh)
    ge, gi, he, hi = cond_vals(ge, gi, he, hi, cfh)
    a4, b4, d4, e4 = hh_f_k(v0 + h * a3, x0 + h * b3, y0 + h * d3, z0 + h * e3, ge, gi, c1, kh)
    h6 = h / 6.0
    return (v0 + h6 * (a1 + 2.0 * a2 + 2.0 * a3 + a4), x0 + h6 * (b1 + 2.0 * b2 + 2.0 * b3 + b4),
            y0 + h6 * (d1 + 2.0 * d2 + 2.0 * d3 + d4), z0 + h6 * (e1 + 2.0 * e2 + 2.0 * e3 + e4),
            ge, gi, he, hi, a1)


@njit(cache=True, inline='always')
def lif_rk4_vals(model, v0, ge, gi, he, hi, h, cfh):
    """Mixed RK4 of one LIF-family neuron over h: (V, gE, gI, HE, HI) at the end and k1."""
    return lif_rk4_vals_k(model, v0, ge, gi, he, hi, h, cfh, LIF_KF)


@njit(cache=True, inline='always')
def lif_rk4_vals_k(model, v0, ge, gi, he, hi, h, cfh, kf):
    """lif_rk4_vals with the constants kf (see LIF_KF)."""
    k1 = lif_f_k(model, v0, ge, gi, kf)
    ge, gi, he, hi = cond_vals(ge, gi, he, hi, cfh)
    k2 = lif_f_k(model, v0 + 0.5 * h * k1, ge, gi, kf)
    k3 = lif_f_k(model, v0 + 0.5 * h * k2, ge, gi, kf)
    ge, gi, he, hi = cond_vals(ge, gi, he, hi, cfh)
    k4 = lif_f_k(model, v0 + h * k3, ge, gi, kf)
    return v0 + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4), ge, gi, he, hi, k1


@njit(cache=True, inline='always')
def lif_candidate(v0, v1, k1, th, h):
    """True if an active LIF step may contain a spike (crossing, or near-threshold peak)."""
    if v0 <= th and v1 > th:
        return True
    if v0 > LIF_NEAR and k1 > 0.0:
        a = (v1 - v0 - k1 * h) / (h * h)
        if a < 0.0:
            tv = -k1 / (2.0 * a)
            return 0.0 < tv < h and v0 - k1 * k1 / (4.0 * a) >= th
    return False


@njit(cache=True, inline='always')
def hh_candidate(model, v0, v1, k1, th):
    """True if an HH step may hold a spike: crossing up (G, GH), peak (PT), crossing down (FT)."""
    if model == HH_PT:
        return v0 >= th and k1 >= 0.0
    if model == HH_FT:
        return v0 > th >= v1
    return v0 < th <= v1
