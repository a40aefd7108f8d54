"""Numba spike-time interpolation: cubic Hermite roots and peaks, roots of quadratics and cubics.

Given a quiet step's end values and slopes (spec 7.3), ``hermite_root`` finds where the cubic
Hermite interpolant first reaches a level and ``hermite_peak`` where it has a maximum. Both keep
the reference's fallback quirks behind the ``quirks`` flag.
"""
import math

from numba import njit


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
