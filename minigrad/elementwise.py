"""More elementwise functions: each one's forward and its derivative, side by side.

Read this file as you read ``ops.py``: the decorated function is the forward pass on raw arrays
(``xp`` is the inputs' backend), and the ``defvjp`` line after it gives the vector-Jacobian
product ``x̄ = ḡ · ∂out/∂x`` written with Tensor operations, so that it can itself be
differentiated (second derivatives).  The definitions follow PyTorch's (``torch.sqrt``,
``torch.nn.functional.softplus``, ``gelu``...), including the value of the derivative at a kink.

Three conventions hold for every function here:

* integer and bool inputs of the functions with real-valued results (all but floor, ceil,
  round, trunc, sign, square, remainder, fmod, floor_divide, fmax, fmin, nan_to_num and the
  tests on values) are first converted to the device's default float, as PyTorch does
  (``sqrt(tensor([4]))`` is ``tensor([2.])``); float inputs keep their dtype (float32 stays
  float32, and parameters such as ``beta`` are taken as Python floats so as not to change it);
* ``floor``, ``ceil``, ``round``, ``trunc``, ``sign`` and ``floor_divide`` are piecewise constant:
  their derivative is 0 wherever it exists, and (as PyTorch's first five) they are primitives
  whose VJP is zeros, so they can sit inside a graph without breaking backward;
* ``isnan``, ``isfinite``, ``signbit``, ``isclose`` and the ``logical_*`` functions answer a
  question about values: a boolean tensor, no graph (``allclose`` and ``equal``: a Python bool).
"""
from __future__ import annotations

import math
import numbers
import operator

import numpy as np

from .ops import _float_tensor
from .ops import abs as _abs
from .ops import (_floating, astype, binary, clip, compare, const, div, exp, log, mul, primitive, sigmoid, softmax,
                  split, tanh, where)
from .tensor import DeviceMismatchError, Tensor, _is_float

__all__ = ["sqrt", "log1p", "expm1", "log2", "log10", "exp2", "sin", "cos", "tan", "asin", "acos", "atan",
           "atan2", "sinh", "cosh", "softplus", "log_sigmoid", "leaky_relu", "elu", "gelu", "silu",
           "erf", "logaddexp", "floor", "ceil", "round", "sign", "isnan", "isfinite", "remainder",
           "floor_divide", "square", "reciprocal", "rsqrt", "trunc", "frac", "fmod", "nan_to_num", "lerp",
           "logical_and", "logical_or", "logical_xor", "logical_not", "isclose", "allclose", "equal",
           "asinh", "acosh", "atanh", "logsigmoid", "softsign", "softmin", "hardtanh", "relu6", "hardsigmoid",
           "hardswish", "mish", "selu", "celu", "tanhshrink", "hardshrink", "softshrink", "threshold", "glu",
           "isinf", "isposinf", "isneginf", "copysign", "hypot", "sinc", "xlogy", "logit", "deg2rad",
           "rad2deg", "float_power", "prelu", "divide", "true_divide", "erfc", "erfinv", "fmax", "fmin",
           "signbit", "sgn"]

_SQRT1_2 = math.sqrt(0.5)                  # 1/√2
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)  # 1/√(2π), the peak of the standard normal density
_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)  # 2/√π, erf'(0)
_LN2, _LN10 = math.log(2), math.log(10)


def _number(name: str, value) -> float:
    """A Python float from a parameter (``beta``, ``alpha``...), so that it cannot upcast float32
    data (a NumPy float64 scalar would) and cannot be a device array (which would need a copy
    to the host)."""
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a Python number, got {type(value).__name__}")
    return float(value)


def _zeros(g: Tensor) -> Tensor:
    """A constant of zeros shaped like ``g``: the VJP of a piecewise-constant function."""
    return const(g.backend.zeros_like(g.data), g)


# =========================================================================== roots, trigonometry
@primitive(save="out")
def sqrt(xp, x):
    """out = √x             x̄ = ḡ / (2√x) = ḡ / (2 out)     (infinite at x = 0, NaN below)"""
    return xp.sqrt(_floating(xp, x))
sqrt.defvjp(lambda g, out, x: g / (out * 2))


@primitive
def log1p(xp, x):
    """out = log(1 + x)     x̄ = ḡ / (1 + x)     (exact for tiny x, where 1 + x rounds to 1)"""
    return xp.log1p(_floating(xp, x))
log1p.defvjp(lambda g, out, x: g / (x + 1))


@primitive(save="out")
def expm1(xp, x):
    """out = eˣ - 1         x̄ = ḡ eˣ = ḡ (out + 1)     (exact for tiny x, where eˣ rounds to 1)"""
    return xp.expm1(_floating(xp, x))
expm1.defvjp(lambda g, out, x: g * (out + 1))


@primitive
def log2(xp, x):
    """out = log₂ x         x̄ = ḡ / (x ln 2)       (xp.log2, not ln x / ln 2: log2(8) is exactly 3)"""
    return xp.log2(_floating(xp, x))
log2.defvjp(lambda g, out, x: g / (x * _LN2))


@primitive
def log10(xp, x):
    """out = log₁₀ x        x̄ = ḡ / (x ln 10)"""
    return xp.log10(_floating(xp, x))
log10.defvjp(lambda g, out, x: g / (x * _LN10))


@primitive(save="out")
def exp2(xp, x):
    """out = 2ˣ             x̄ = ḡ 2ˣ ln 2 = ḡ out ln 2"""
    return xp.exp2(_floating(xp, x))
exp2.defvjp(lambda g, out, x: g * out * _LN2)


@primitive
def sin(xp, x):
    """out = sin x          x̄ = ḡ cos x"""
    return xp.sin(_floating(xp, x))
sin.defvjp(lambda g, out, x: g * cos(x))


@primitive
def cos(xp, x):
    """out = cos x          x̄ = -ḡ sin x"""
    return xp.cos(_floating(xp, x))
cos.defvjp(lambda g, out, x: -(g * sin(x)))


@primitive(save="out")
def tan(xp, x):
    """out = tan x          x̄ = ḡ / cos² x = ḡ (1 + tan² x) = ḡ (1 + out²)"""
    return xp.tan(_floating(xp, x))
tan.defvjp(lambda g, out, x: g * (out * out + 1))


@primitive
def asin(xp, x):
    """out = arcsin x       x̄ = ḡ / √(1 - x²)     (+∞ at x = ±1, NaN beyond, as in PyTorch)"""
    return xp.arcsin(_floating(xp, x))
asin.defvjp(lambda g, out, x: g * rsqrt(1 - x * x))


@primitive
def acos(xp, x):
    """out = arccos x       x̄ = -ḡ / √(1 - x²)    (-∞ at x = ±1, NaN beyond, as in PyTorch)"""
    return xp.arccos(_floating(xp, x))
acos.defvjp(lambda g, out, x: -(g * rsqrt(1 - x * x)))


@primitive
def atan(xp, x):
    """out = arctan x       x̄ = ḡ / (1 + x²)"""
    return xp.arctan(_floating(xp, x))
atan.defvjp(lambda g, out, x: g / (x * x + 1))


@primitive
def asinh(xp, x):
    """out = arsinh x = log(x + √(x² + 1))       x̄ = ḡ / √(x² + 1)"""
    return xp.arcsinh(_floating(xp, x))
asinh.defvjp(lambda g, out, x: g * rsqrt(x * x + 1))


@primitive
def acosh(xp, x):
    """out = arcosh x = log(x + √(x² - 1))       x̄ = ḡ / √(x² - 1)

    out is NaN below 1; x̄ is +∞ at ±1 and NaN between them, but finite below -1 (where x² - 1 > 0
    again: x̄(-2) = 1/√3 beside out = NaN), as in PyTorch."""
    return xp.arccosh(_floating(xp, x))
acosh.defvjp(lambda g, out, x: g * rsqrt(x * x - 1))


@primitive
def atanh(xp, x):
    """out = artanh x = ½ log((1 + x) / (1 - x))      x̄ = ḡ / (1 - x²)

    out is ±∞ at ±1 and NaN beyond; x̄ is +∞ at both ±1 and finite beyond (negative: x̄(2) = -1/3
    beside out = NaN), as in PyTorch."""
    return xp.arctanh(_floating(xp, x))
atanh.defvjp(lambda g, out, x: g / (1 - x * x))


@primitive
def sinh(xp, x):
    """out = sinh x = (eˣ - e⁻ˣ) / 2      x̄ = ḡ cosh x"""
    return xp.sinh(_floating(xp, x))
sinh.defvjp(lambda g, out, x: g * cosh(x))


@primitive
def cosh(xp, x):
    """out = cosh x = (eˣ + e⁻ˣ) / 2      x̄ = ḡ sinh x"""
    return xp.cosh(_floating(xp, x))
cosh.defvjp(lambda g, out, x: g * sinh(x))


@binary
def atan2(xp, a, b):
    """out = the angle of the point (b, a): arctan(a / b), in the right quadrant, in [-π, π]: on
    the cut b < 0 the sign of a picks the side, a signed zero too (atan2(-0.0, -1) = -π, as in
    NumPy and PyTorch)
    ā = ḡ b / (a² + b²),  b̄ = -ḡ a / (a² + b²)

    At the origin (a = b = 0) both are 0, as in PyTorch: there a² + b² is replaced by 1 in
    the formula (the numerator is 0 already), which gives exactly 0 with no 0/0 for a second
    derivative to pick up.  Operands broadcast; integers give the default float.
    """
    return xp.arctan2(_floating(xp, a), _floating(xp, b))


def _squared_radius(a, b):
    """a² + b², with 1 where it is 0 (see atan2)."""
    r = a * a + b * b
    return where(r.data == 0, 1, r)


atan2.defvjp(lambda g, out, a, b: g * b / _squared_radius(a, b),
             lambda g, out, a, b: -(g * a / _squared_radius(a, b)))


# =========================================================================== powers (compositions)
def square(x: Tensor) -> Tensor:
    """out = x²       x̄ = 2 ḡ x        (``x * x``; integers stay integers and bools become int64,
    as in PyTorch)"""
    if x.dtype == np.bool_:
        x = astype(x, dtype=np.dtype(np.int64))
    return mul(x, x)


def reciprocal(x: Tensor) -> Tensor:
    """out = 1 / x    x̄ = -ḡ / x²      (``1 / x``; integers give the default float, as in PyTorch)"""
    return div(1, x)


@primitive(save="out")
def rsqrt(xp, x):
    """out = 1 / √x         x̄ = -ḡ / (2 x^(3/2)) = -½ ḡ out³

    Computed as PyTorch does, as the quotient 1 / √x (bit-identical with it): +∞ at 0, -∞ at
    -0.0 (where ``x ** -0.5`` gives +∞), NaN below 0.  Integers: the default float."""
    return 1 / xp.sqrt(_floating(xp, x))
rsqrt.defvjp(lambda g, out, x: g * -0.5 * (out * out * out))


# =========================================================================== smooth activations
@primitive(name="softplus")
def _softplus(xp, x, *, beta, threshold):
    """out = log(1 + e^(βx)) / β, or x where βx > threshold        x̄ = ḡ σ(βx), or ḡ there

    PyTorch's definition: above the threshold softplus is x to working precision and is returned
    as x (a jump of log(1 + e^-threshold)/β, about 2e-9 for the default 20).  Below it,
    log(1 + e^z) is computed as max(z, 0) + log(1 + e^-|z|), which never overflows.
    The derivative: d/dx log(1 + e^(βx))/β = e^(βx) / (1 + e^(βx)) = σ(βx).
    """
    x = _floating(xp, x)
    z = x * beta
    soft = (xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))) / beta
    return xp.where(z > threshold, x, soft)
_softplus.defvjp(lambda g, out, x, *, beta, threshold:
                 g * where(x.data * beta > threshold, 1.0, sigmoid(x * beta)))


def softplus(x: Tensor, beta=1.0, threshold=20.0) -> Tensor:
    """A smooth relu, ``log(1 + e^(βx)) / β`` (``torch.nn.functional.softplus``)."""
    return _softplus(x, beta=_number("beta", beta), threshold=_number("threshold", threshold))


@primitive
def log_sigmoid(xp, x):
    """out = log σ(x) = -log(1 + e⁻ˣ)        x̄ = ḡ (1 - σ(x)) = ḡ σ(-x)

    Stable for every x: -log(1 + e⁻ˣ) = min(x, 0) - log(1 + e^-|x|), and e^-|x| ≤ 1.
    """
    x = _floating(xp, x)
    return xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))
log_sigmoid.defvjp(lambda g, out, x: g * sigmoid(-x))


@primitive
def silu(xp, x):
    """out = x σ(x)  (also called swish)        x̄ = ḡ (σ(x) + x σ(x)(1 - σ(x)))
                                                   = ḡ σ(x) (1 + x (1 - σ(x)))"""
    x = _floating(xp, x)
    return x * sigmoid.forward(xp, x)            # σ computed without overflow, as in ops.sigmoid


def _silu_vjp(g, out, x):
    s = sigmoid(x)
    return g * s * (1 + x * (1 - s))


silu.defvjp(_silu_vjp)


# =========================================================================== relu-like (a kink at 0)
@primitive(name="leaky_relu")
def _leaky_relu(xp, x, *, negative_slope):
    """out = x if x > 0 else negative_slope · x        x̄ = ḡ if x > 0 else ḡ · negative_slope

    At the kink x = 0 the derivative is taken to be negative_slope (PyTorch: x > 0 ? 1 : slope).
    """
    x = _floating(xp, x)
    return xp.where(x > 0, x, x * negative_slope)
_leaky_relu.defvjp(lambda g, out, x, *, negative_slope:
                   g * const(x.backend.where(x.data > 0, 1.0, negative_slope), g))


def leaky_relu(x: Tensor, negative_slope=0.01) -> Tensor:
    """relu with a small slope for negative inputs (``torch.nn.functional.leaky_relu``)."""
    return _leaky_relu(x, negative_slope=_number("negative_slope", negative_slope))


@primitive(name="elu", save="inputs,out")
def _elu(xp, x, *, alpha):
    """out = x if x > 0 else α(eˣ - 1)        x̄ = ḡ if x > 0 else ḡ αeˣ = ḡ (out + α)

    At the kink x = 0 the derivative is taken to be α (PyTorch: x > 0 ? 1 : α eˣ).  Writing αeˣ
    as out + α reads the saved output, and stays finite where eˣ of a large positive x (never
    used) would overflow.  eˣ - 1 is computed with expm1 (accurate near 0), at min(x, 0).
    """
    x = _floating(xp, x)
    return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0)))
_elu.defvjp(lambda g, out, x, *, alpha: g * where(x.data > 0, 1.0, out + alpha))


def elu(x: Tensor, alpha=1.0) -> Tensor:
    """Exponential linear unit (``torch.nn.functional.elu``)."""
    return _elu(x, alpha=_number("alpha", alpha))


# =========================================================================== gelu
@primitive(name="gelu")
def _gelu(xp, x):
    """out = x Φ(x) = x/2 (1 + erf(x/√2))        x̄ = ḡ (Φ(x) + x φ(x)),  φ(x) = e^(-x²/2) / √(2π)

    Φ is the standard normal distribution function, φ its density (Φ' = φ).
    """
    x = _floating(xp, x)
    return x * 0.5 * (1 + _erf(xp, x * _SQRT1_2))
_gelu.defvjp(lambda g, out, x:
             g * (0.5 * (1 + erf(x * _SQRT1_2)) + x * exp(x * x * -0.5) * _INV_SQRT_2PI))


_K = math.sqrt(2 / math.pi)
_C = 0.044715


@primitive(name="gelu_tanh")
def _gelu_tanh(xp, x):
    """out = x/2 (1 + tanh u),  u = √(2/π) (x + 0.044715 x³)

    x̄ = ḡ (½(1 + tanh u) + ½ x (1 - tanh² u) √(2/π) (1 + 3 · 0.044715 x²))
    """
    x = _floating(xp, x)
    return x * 0.5 * (1 + xp.tanh((x + x * x * x * _C) * _K))


def _gelu_tanh_vjp(g, out, x):
    t = tanh((x + x * x * x * _C) * _K)
    return g * ((1 + t) * 0.5 + x * 0.5 * (1 - t * t) * _K * (1 + x * x * (3 * _C)))


_gelu_tanh.defvjp(_gelu_tanh_vjp)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit, ``x Φ(x)`` (``torch.nn.functional.gelu``).

    ``approximate="none"`` computes it exactly, with erf; ``"tanh"`` uses the approximation
    ``x/2 (1 + tanh(√(2/π) (x + 0.044715 x³)))``.
    """
    if approximate == "none":
        return _gelu(x)
    if approximate == "tanh":
        return _gelu_tanh(x)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


# =========================================================================== erf
# W. J. Cody, "Rational Chebyshev approximations for the error function", Mathematics of
# Computation 23 (1969), 631-637; coefficients of his Fortran routine CALERF (SPECFUN, netlib),
# designed for relative errors below 1e-17.  Three ranges of y = |x|:
#   y ≤ 0.46875        erf(x)  = x · A(y²) / B(y²)
#   0.46875 < y ≤ 4    erfc(y) = e^(-y²) · C(y) / D(y)
#   y > 4              erfc(y) = e^(-y²) / y · (1/√π - z P(z) / Q(z)),  z = 1/y²
# and erf(x) = sign(x) (1 - erfc(y)) in the last two.  (A, C, P: numerators; B, D, Q:
# denominators, the leading coefficient 1 not stored; the lists are in Cody's order.)
_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
      3.20937758913846947e03, 1.85777706184603153e-1)
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
      2.84423683343917062e03)
_C9 = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
       2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
       2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_D8 = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
       1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
       3.43936767414372164e03, 1.23033935480374942e03)
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
      1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
      6.05183413124413191e-2, 2.33520497626869185e-3)
_THRESH = 0.46875                          # the boundary of the first range
_ERFC_ZERO = 27.3                          # erfc(y) = 0 beyond: erfc(27.3) < 5e-324 (Cody stops at 26.543, where
                                           # it leaves the normal numbers; the subnormal ones are kept)
_SQRPI = 1 / math.sqrt(math.pi)


def _exp_minus_square(xp, y):
    """e^(-y²), as Cody computes it: with s = y rounded down to a multiple of 1/16, y² = s² + d,
    d = (y - s)(y + s); s² is exact, so the large exponent carries no rounding error."""
    s = xp.floor(y * 16) / 16
    return xp.exp(-s * s) * xp.exp(-(y - s) * (y + s))


def _erf(xp, x):
    """erf(x) on an array: Cody's three rational approximations, each evaluated on every element
    (its argument clamped to its range, so none overflows) and the right one selected."""
    y, small, erfc_y = _cody(xp, x)
    one_minus = 1 - erfc_y
    return xp.where(y <= _THRESH, small, xp.where(x < 0, -one_minus, one_minus))


def _erfc(xp, x):
    """erfc(x) = 1 - erf(x) without the cancellation: Cody's erfc(|x|) directly where
    |x| > 0.46875 (0 beyond his XBIG, where it underflows), 2 - erfc(|x|) for x < 0."""
    y, small, erfc_y = _cody(xp, x)
    erfc_y = xp.where(y > _ERFC_ZERO, 0.0, erfc_y).astype(x.dtype)
    return xp.where(y <= _THRESH, 1 - small, xp.where(x < 0, 2 - erfc_y, erfc_y))


def _cody(xp, x):
    """|x|, erf(x) for |x| ≤ 0.46875, erfc(|x|) for larger |x| (each computed everywhere, see _erf)."""
    y = xp.abs(x)

    z = xp.minimum(y, _THRESH) ** 2                      # y ≤ 0.46875: erf directly
    num, den = _A[4] * z, z
    for a, b in zip(_A[:3], _B[:3]):
        num, den = (num + a) * z, (den + b) * z
    small = x * (num + _A[3]) / (den + _B[3])

    y2 = xp.minimum(xp.maximum(y, _THRESH), 4.0)         # 0.46875 < y ≤ 4: erfc
    num, den = _C9[8] * y2, y2
    for c, d in zip(_C9[:7], _D8[:7]):
        num, den = (num + c) * y2, (den + d) * y2
    erfc_middle = _exp_minus_square(xp, y2) * (num + _C9[7]) / (den + _D8[7])

    y3 = xp.minimum(xp.maximum(y, 4.0), _ERFC_ZERO)      # y > 4: erfc, asymptotic form
    z = 1 / (y3 * y3)
    num, den = _P[5] * z, z
    for p, q in zip(_P[:4], _Q[:4]):
        num, den = (num + p) * z, (den + q) * z
    erfc_large = _exp_minus_square(xp, y3) * (_SQRPI - z * (num + _P[4]) / (den + _Q[4])) / y3

    return y, small, xp.where(y <= 4, erfc_middle, erfc_large)


@primitive
def erf(xp, x):
    """out = erf x = 2/√π ∫₀ˣ e^(-t²) dt        x̄ = ḡ · 2/√π · e^(-x²)

    NumPy has no erf (and CuPy's main namespace has none): the forward is W. J. Cody's rational
    Chebyshev approximation (1969) from elementary functions, see ``_erf``; accurate to a few
    units in the last place in float64.  The derivative is exact: it is the integrand.
    """
    return _erf(xp, _floating(xp, x))
erf.defvjp(lambda g, out, x: g * exp(-(x * x)) * _TWO_OVER_SQRT_PI)


@primitive
def erfc(xp, x):
    """out = erfc x = 1 - erf x        x̄ = -ḡ · 2/√π · e^(-x²)   (accurate where 1 - erf x would
    cancel: erfc(10) ≈ 2.1e-45 is returned as such, not as 0)"""
    return _erfc(xp, _floating(xp, x))
erfc.defvjp(lambda g, out, x: -(g * exp(-(x * x)) * _TWO_OVER_SQRT_PI))


# =========================================================================== erfinv
# M. Giles, "Approximating the erfinv function", GPU Computing Gems Jade Edition (2011) ch. 10,
# the single-precision version (relative error below 4e-7): with w = -log((1 - x)(1 + x)),
# erfinv(x) ≈ x · p(w - 2.5) for w < 5, x · q(√w - 3) beyond (coefficients from the highest power).
_GILES_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                  -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_GILES_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
               -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)
_SQRT_PI_2 = math.sqrt(math.pi) / 2        # √π/2 = 1/erf'(0)
_NEWTON_STEPS = 4                          # (3 leave 3e-8, relative, at 1 - 2⁻⁵³, where Giles' start is far)


def _erfinv(xp, x):
    """erfinv on a float64 array: Giles' approximation, then four Newton steps (each squares
    the relative error once close: 4e-7 -> 1e-13 -> below float64's 1e-16).  A Newton step solves
    erf(y) = |x| as y -= (erf(y) - |x|) / erf'(y), erf'(y) = 2/√π e^(-y²).  Where |x| > 1/2 it
    solves log erfc(y) = log(1 - |x|) instead, y -= (log(1 - |x|) - log erfc(y)) erfc(y) / erf'(y):
    1 - |x| is exact there, erfc keeps its relative accuracy near |x| = 1 (erf(y) - |x| would
    cancel to nothing), and log erfc is nearly quadratic in y, so the steps also converge from
    Giles' start beyond its single-precision range (1 - |x| < 1e-7); the last step, taken
    close to the root, divides the difference itself, (1 - |x| - erfc(y)) / erf'(y), with no
    logarithm to round.  Measured against mpmath: at most 3 units in the last place (erf's and
    erfc's own rounding); float32 is the float64 result rounded.  ±1 give ±∞, |x| > 1 and
    NaN give NaN, the sign of x (-0.0 too), as in PyTorch."""
    a = xp.abs(x)
    inside = a < 1
    ac = xp.where(inside, a, 0.0)                       # no log(0) or log of a negative below
    w = -xp.log((1 - ac) * (1 + ac))
    central, tail = w - 2.5, xp.sqrt(w) - 3
    p, q = _GILES_CENTRAL[0], _GILES_TAIL[0]
    for c, d in zip(_GILES_CENTRAL[1:], _GILES_TAIL[1:]):
        p, q = p * central + c, q * tail + d
    y = ac * xp.where(w < 5, p, q)
    far = ac > 0.5
    rest = xp.where(far, 1 - ac, 1.0)                     # 1 - |x|, exact where |x| > 1/2
    for k in range(_NEWTON_STEPS):
        slope = _TWO_OVER_SQRT_PI * _exp_minus_square(xp, y)
        tail = xp.where(far, _erfc(xp, y), 1.0)
        miss = xp.log(rest) - xp.log(tail) if k < _NEWTON_STEPS - 1 else (rest - tail) / tail   # last: no logs
        step = xp.where(far, miss * tail, _erf(xp, y) - ac) / slope
        y = y - step
    y = xp.where(inside, y, xp.where(a == 1, xp.inf, xp.nan))
    return xp.copysign(y, x)


@primitive(save="out")
def erfinv(xp, x):
    """out = erfinv x, the inverse of erf on (-1, 1)        x̄ = ḡ · √π/2 · e^(erfinv(x)²) = ḡ √π/2 e^(out²)

    (The derivative of an inverse is 1 / erf'(out) = 1 / (2/√π e^(-out²)).)  NumPy has none
    and SciPy is not a dependency: Giles' approximation refined by Newton steps on this
    module's erf and erfc (:func:`_erfinv`), computed in float64 and rounded to x's dtype.
    ±1 give ±∞, |x| > 1 NaN (their derivatives ∞ and NaN), as ``torch.erfinv``; integers give
    the default float."""
    x = _floating(xp, x)
    return _erfinv(xp, x.astype(np.float64)).astype(x.dtype)
erfinv.defvjp(lambda g, out, x: g * exp(out * out) * _SQRT_PI_2)


# =========================================================================== logaddexp
@binary
def logaddexp(xp, a, b):
    """out = log(eᵃ + eᵇ)        ā = ḡ eᵃ / (eᵃ + eᵇ) = ḡ σ(a - b),  b̄ = ḡ σ(b - a)

    xp.logaddexp computes it without overflow as max(a, b) + log(1 + e^-|a - b|); the
    gradients, written with σ, stay finite for any a, b (they are the softmax of (a, b)).
    Operands broadcast (the VJPs return the broadcast shape; backward sums it down), and either
    may be a Python number (``binary`` lifts it, with PyTorch's promotion: an integer tensor
    and 0.5 give the default float).
    """
    return xp.logaddexp(_floating(xp, a), _floating(xp, b))
logaddexp.defvjp(lambda g, out, a, b: g * sigmoid(a - b),
                 lambda g, out, a, b: g * sigmoid(b - a))


# =========================================================================== fmax, fmin: NaN as missing
def _picks_a(xp, a, b, prefers):
    """Where ``fmax``/``fmin`` take a: a ≥ b (fmin: a ≤ b), or b is NaN (PyTorch's masks)."""
    return prefers(a, b) | xp.isnan(b)


@binary
def fmax(xp, a, b):
    """out = max(a, b), where a NaN counts as missing: the other operand where one is NaN, NaN
    only where both are (``torch.fmax``, C's fmax; :func:`minigrad.maximum` propagates NaN)
    ā = ḡ [a ≥ b or b is NaN],  b̄ = ḡ [otherwise]     (a tie gives all of ḡ to a, PyTorch's
    rule for fmax, where maximum splits it half and half)"""
    return xp.fmax(a, b)
fmax.defvjp(lambda g, out, a, b: g * const(_picks_a(a.backend, a.data, b.data, operator.ge), g),
            lambda g, out, a, b: g * const(~_picks_a(a.backend, a.data, b.data, operator.ge), g))


@binary
def fmin(xp, a, b):
    """out = min(a, b), a NaN counting as missing (``torch.fmin``)
    ā = ḡ [a ≤ b or b is NaN],  b̄ = ḡ [otherwise]     (ties: all to a, as in PyTorch)"""
    return xp.fmin(a, b)
fmin.defvjp(lambda g, out, a, b: g * const(_picks_a(a.backend, a.data, b.data, operator.le), g),
            lambda g, out, a, b: g * const(~_picks_a(a.backend, a.data, b.data, operator.le), g))


# =========================================================================== piecewise constant
def _keep_integers(x, fn):
    """floor, ceil and round of integers are the integers themselves (dtype kept, as PyTorch)."""
    return fn(x) if _is_float(x.dtype) else x.copy()


@primitive(save="")
def floor(xp, x):
    """out = ⌊x⌋, the largest integer ≤ x            x̄ = 0 (PyTorch's choice, also at the steps)"""
    return _keep_integers(x, xp.floor)
floor.defvjp(lambda g, out, x: _zeros(g))


@primitive(save="")
def ceil(xp, x):
    """out = ⌈x⌉, the smallest integer ≥ x           x̄ = 0"""
    return _keep_integers(x, xp.ceil)
ceil.defvjp(lambda g, out, x: _zeros(g))


@primitive(name="round", save="")
def _round(xp, x, *, decimals):
    """out = x rounded to ``decimals`` decimal places, halves to even (2.5 -> 2, 3.5 -> 4, as
    NumPy and torch.round)            x̄ = 0

    Integers are kept as they are, unless ``decimals`` < 0 rounds them to tens, hundreds...
    """
    if decimals < 0:
        return xp.round(x, decimals=decimals)
    return _keep_integers(x, lambda a: xp.round(a, decimals=decimals))
_round.defvjp(lambda g, out, x, *, decimals: _zeros(g))


def round(x: Tensor, decimals: int = 0) -> Tensor:
    """Round to the nearest integer (or to ``decimals`` places); ties go to the even one."""
    if not isinstance(decimals, numbers.Integral) or isinstance(decimals, (bool, np.bool_)):
        raise TypeError(f"round: decimals must be an int, got {decimals!r}")
    return _round(x, decimals=int(decimals))


@primitive(save="")
def sign(xp, x):
    """out = -1, 0 or 1 as x < 0, x = 0 or x > 0 (NaN stays NaN)            x̄ = 0

    NaN gives NaN, as in NumPy (PyTorch gives 0 there, a difference it tracks as a bug:
    pytorch/pytorch#41245); bool stays bool.  The explicit ``where`` makes every device agree.
    """
    if x.dtype == bool:
        return x.copy()
    if not _is_float(x.dtype):
        return xp.sign(x)
    return xp.where(xp.isnan(x), x, xp.sign(x))
sign.defvjp(lambda g, out, x: _zeros(g))
sgn = sign          # torch.sgn: the same as sign for real tensors (NaN: see sign)


def signbit(x: Tensor) -> Tensor:
    """True where the sign bit of x is set: x < 0, and also -0.0 and a NaN with its sign bit
    (``torch.signbit``; False for bool): a boolean tensor, no graph."""
    data = x.data if x.dtype != np.bool_ else x.data.astype(np.int8)
    return Tensor._wrap(x.backend.signbit(data), x.backend)


@primitive(save="")
def trunc(xp, x):
    """out = x rounded towards 0 (its integer part)     x̄ = 0    (integers are kept as they are)"""
    return _keep_integers(x, xp.trunc)
trunc.defvjp(lambda g, out, x: _zeros(g))


def frac(x: Tensor) -> Tensor:
    """out = x - trunc(x), the fractional part with x's sign        x̄ = ḡ

    A composition (trunc's derivative is 0, so the gradient is exactly ḡ).  Floating tensors
    only, as in PyTorch (an integer's fractional part would always be 0)."""
    if not _is_float(x.dtype):
        raise TypeError(f"frac takes floating tensors, got dtype {x.dtype}")
    return x - trunc(x)


# =========================================================================== integer division
def _no_bool(name: str, a) -> None:
    """``%`` and ``//`` of two bools are refused, as by PyTorch (NumPy would give int8)."""
    if a.dtype == np.bool_:
        raise TypeError(f"{name} of two bools is not defined: convert them with .astype('int64')")


@binary(save="inputs")
def remainder(xp, a, b):
    """out = a - b ⌊a / b⌋, with the sign of b (Python's and PyTorch's ``%``)
    ā = ḡ,  b̄ = -ḡ ⌊a / b⌋     (⌊a / b⌋ is piecewise constant: a constant here, as in PyTorch)

    ``x % 3`` and ``3 % x`` call it.  Integers stay integers.  A zero divisor gives NaN for
    floats; for integers it gives 0 (NumPy's rule, with a RuntimeWarning): PyTorch raises on
    the CPU, but refusing would mean reading the divisor back from the device on every call.
    """
    _no_bool("remainder", a)
    return xp.remainder(a, b)
remainder.defvjp(lambda g, out, a, b: g,
                 lambda g, out, a, b: g * const(-a.backend.floor_divide(a.data, b.data), g))


@binary(save="")
def floor_divide(xp, a, b):
    """out = ⌊a / b⌋ (Python's and PyTorch's ``//``, rounding towards -∞)      ā = b̄ = 0

    Piecewise constant, so its derivative is 0 wherever it exists, as for ``floor`` (PyTorch's
    ``floor_divide`` has no derivative and refuses backward); as a primitive with zero VJPs it
    can sit inside a graph.  Integers stay integers; an integer zero divisor gives 0, as in
    :func:`remainder`.
    """
    _no_bool("floor_divide", a)
    return xp.floor_divide(a, b)
floor_divide.defvjp(lambda g, out, a, b: _zeros(g), lambda g, out, a, b: _zeros(g))


@binary(save="inputs")
def fmod(xp, a, b):
    """out = a - b trunc(a / b), with the sign of a (C's fmod, PyTorch's ``fmod``; ``%`` is
    :func:`remainder`, with the sign of b)
    ā = ḡ,  b̄ = -ḡ trunc(a / b)      (trunc(a / b) piecewise constant: a constant, as in PyTorch)

    Integers stay integers; a zero divisor gives NaN for floats and 0 for integers (as
    :func:`remainder`).
    """
    _no_bool("fmod", a)
    return xp.fmod(a, b)
fmod.defvjp(lambda g, out, a, b: g,
            lambda g, out, a, b: g * const(-a.backend.trunc(a.data / b.data), g))


# =========================================================================== tests on values
def isnan(x: Tensor) -> Tensor:
    """True where x is NaN: a boolean tensor, not differentiable (no graph)."""
    return Tensor._wrap(x.backend.isnan(x.data), x.backend)


def isinf(x: Tensor) -> Tensor:
    """True where x is +∞ or -∞: a boolean tensor, no graph."""
    return Tensor._wrap(x.backend.isinf(x.data), x.backend)


def isposinf(x: Tensor) -> Tensor:
    """True where x is +∞: a boolean tensor, no graph."""
    return Tensor._wrap(x.backend.isinf(x.data) & (x.data > 0), x.backend)


def isneginf(x: Tensor) -> Tensor:
    """True where x is -∞: a boolean tensor, no graph."""
    return Tensor._wrap(x.backend.isinf(x.data) & (x.data < 0), x.backend)


def isfinite(x: Tensor) -> Tensor:
    """True where x is neither infinite nor NaN: a boolean tensor, no graph."""
    return Tensor._wrap(x.backend.isfinite(x.data), x.backend)


# =========================================================================== replacing values, mixing
@primitive(name="nan_to_num")
def _nan_to_num(xp, x, *, nan, posinf, neginf):
    """out = x, with NaN, +∞ and -∞ replaced by ``nan``, ``posinf``, ``neginf``
    x̄ = ḡ where x is finite, 0 where it was replaced (PyTorch's rule)"""
    return xp.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)
_nan_to_num.defvjp(lambda g, out, x, *, nan, posinf, neginf: g * const(x.backend.isfinite(x.data), g))


def nan_to_num(x: Tensor, nan=0.0, posinf=None, neginf=None) -> Tensor:
    """NaN -> ``nan`` (0), +∞ -> ``posinf``, -∞ -> ``neginf`` (None: the largest and the lowest
    finite value of x's dtype), as ``torch.nan_to_num``.  Integer tensors come back unchanged."""
    if not _is_float(x.dtype):
        return Tensor._wrap(x.data.copy(), x.backend)
    finite = [None if v is None else _number(k, v) for k, v in (("posinf", posinf), ("neginf", neginf))]
    return _nan_to_num(x, nan=_number("nan", nan), posinf=finite[0], neginf=finite[1])


def lerp(start: Tensor, end: Tensor, weight) -> Tensor:
    """out = start + weight (end - start), the linear interpolation (``torch.lerp``)
    start̄ = ḡ (1 - weight),  end̄ = ḡ weight,  weight̄ = ḡ (end - start)

    A composition.  As PyTorch, it is computed as ``end - (end - start)(1 - weight)`` where
    |weight| ≥ 0.5, so that weight = 1 gives ``end`` exactly; the derivatives are the same in
    both forms.  ``weight`` is a number or a tensor (broadcasting)."""
    d = end - start
    if not isinstance(weight, Tensor):
        weight = _number("lerp: weight", weight)
        return start + d * weight if abs(weight) < 0.5 else end - d * (1 - weight)
    return where(weight.backend.abs(weight.data) < 0.5, start + d * weight, end - d * (1 - weight))


# =========================================================================== logic and closeness: no graph
def _pair(name: str, a, b) -> None:
    """Two Tensors on one device, or a TypeError / DeviceMismatchError naming what was given."""
    for x in (a, b):
        if not isinstance(x, Tensor):
            raise TypeError(f"{name} takes two Tensors, got {type(x).__name__}")
    if a.backend is not b.backend:
        raise DeviceMismatchError(f"{name}: operands on {a.device!r} and {b.device!r}; move one with .to()")


def _logical(name: str):
    def fn(a: Tensor, b: Tensor) -> Tensor:
        _pair(name, a, b)
        return Tensor._wrap(getattr(a.backend, name)(a.data, b.data), a.backend)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"``{name}(a, b)``: elementwise, nonzero as True; a bool tensor (broadcasting), no graph.")
    return fn


logical_and, logical_or, logical_xor = _logical("logical_and"), _logical("logical_or"), _logical("logical_xor")


def logical_not(x: Tensor) -> Tensor:
    """True where x is 0 (False, 0, 0.0): a bool tensor, no graph."""
    return Tensor._wrap(x.backend.logical_not(x.data), x.backend)


def isclose(a: Tensor, b: Tensor, rtol=1e-05, atol=1e-08, equal_nan: bool = False) -> Tensor:
    """True where |a - b| ≤ atol + rtol |b| (``torch.isclose``, the same defaults; NaNs are equal
    only with ``equal_nan``): a bool tensor, no graph.  Both operands need one dtype."""
    _pair("isclose", a, b)
    if a.dtype != b.dtype:
        raise TypeError(f"isclose: dtypes {a.dtype} and {b.dtype} differ (as in PyTorch, they must be "
                        "equal): convert one with .astype()")
    rtol, atol = _number("rtol", rtol), _number("atol", atol)
    if rtol < 0 or atol < 0:
        raise ValueError(f"isclose: rtol and atol must be >= 0, got rtol={rtol}, atol={atol}")
    close = a.backend.isclose(a.data, b.data, rtol=rtol, atol=atol, equal_nan=bool(equal_nan))
    return Tensor._wrap(close, a.backend)


def allclose(a: Tensor, b: Tensor, rtol=1e-05, atol=1e-08, equal_nan: bool = False) -> bool:
    """True when :func:`isclose` holds everywhere: a Python bool (read from the device)."""
    return bool(isclose(a, b, rtol, atol, equal_nan).numpy().all())


def equal(a: Tensor, b: Tensor) -> bool:
    """True when ``a`` and ``b`` have one shape and equal elements, compared by value
    (``torch.equal``: an int tensor can equal a float one): a Python bool."""
    _pair("equal", a, b)
    return a.shape == b.shape and bool(compare("equal", a, b).numpy().all())


# =========================================================================== more activations (PyTorch's F.*)
# Compositions of the primitives above where the composition's derivative is PyTorch's at every
# point, kinks included (a mask taken from x.data selects a branch: where's VJP routes ḡ to the
# chosen branch only, so a branch that overflows where it is not chosen never meets ḡ).
logsigmoid = log_sigmoid          # PyTorch's spelling (F.logsigmoid)


def softsign(x: Tensor) -> Tensor:
    """out = x / (1 + |x|)        x̄ = ḡ / (1 + |x|)²   (``F.softsign``; a composition)"""
    x = _as_float(x)
    return x / (_abs(x) + 1)


def softmin(x: Tensor, dim=-1) -> Tensor:
    """out = softmax(-x) along ``dim`` (``F.softmin``)        x̄ = -out (ḡ - Σ ḡ out)
    (integer and bool x: the default float first, so that -x does not wrap around in uint8)"""
    return softmax(-_float_tensor(x), dim)


def hardtanh(x: Tensor, min_val=-1.0, max_val=1.0) -> Tensor:
    """out = min(max(x, min_val), max_val)        x̄ = ḡ [min_val < x < max_val]

    ``F.hardtanh``: :func:`minigrad.clip` with number bounds, whose derivative is PyTorch's
    hardtanh's (0 at the bounds themselves)."""
    low, high = _number("min_val", min_val), _number("max_val", max_val)
    if low > high:
        raise ValueError(f"hardtanh: min_val must not be greater than max_val, got {low} > {high}")
    return clip(_as_float(x), low, high)


def relu6(x: Tensor) -> Tensor:
    """out = min(max(x, 0), 6)        x̄ = ḡ [0 < x < 6]   (``F.relu6`` = hardtanh(x, 0, 6))"""
    return hardtanh(x, 0.0, 6.0)


def hardsigmoid(x: Tensor) -> Tensor:
    """out = relu6(x + 3) / 6 = 0 (x ≤ -3), x/6 + ½, 1 (x ≥ 3)        x̄ = ḡ/6 [-3 < x < 3]

    ``F.hardsigmoid``, computed as PyTorch does (min(max(x + 3, 0), 6) / 6)."""
    return clip(_as_float(x) + 3, 0.0, 6.0) / 6


@primitive(name="hardswish")
def _hardswish(xp, x):
    """out = x relu6(x + 3) / 6        x̄ = 0 (x ≤ -3),  ḡ (x/3 + ½) (-3 < x < 3),  ḡ (x ≥ 3)

    The derivative at the kinks is PyTorch's (2.13, measured: 0 at -3, 1 at 3).  The composition
    x · hardsigmoid(x) gives the same numbers today only because clip's derivative is 0 at its
    bounds (PyTorch's clamp gives 1 there, which would make it 3/2 at 3); one primitive does not
    depend on that convention, and is one node instead of several.
    """
    x = _floating(xp, x)
    return x * xp.minimum(xp.maximum(x + 3, 0), 6) / 6
_hardswish.defvjp(lambda g, out, x: g * where(x.data <= -3, 0.0, where(x.data < 3, x / 3 + 0.5, 1.0)))


def hardswish(x: Tensor) -> Tensor:
    """``F.hardswish``: x · relu6(x + 3) / 6 (Howard et al. 2019)."""
    return _hardswish(x)


def mish(x: Tensor) -> Tensor:
    """out = x tanh(softplus(x))        x̄ = ḡ (tanh s + x σ(x) (1 - tanh² s)),  s = softplus(x)

    ``F.mish`` (Misra 2019), a composition (softplus' = σ)."""
    x = _as_float(x)
    return x * tanh(softplus(x))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(x: Tensor) -> Tensor:
    """out = λ x (x > 0), λ α (eˣ - 1) (x ≤ 0), α ≈ 1.6733, λ ≈ 1.0507 (Klambauer et al. 2017)

    ``F.selu`` = λ · elu(x, α); x̄ = λ ḡ, or λ α eˣ ḡ (at 0 too, as in PyTorch)."""
    return elu(x, _SELU_ALPHA) * _SELU_SCALE


def celu(x: Tensor, alpha=1.0) -> Tensor:
    """out = x (x > 0), α (e^(x/α) - 1) (x ≤ 0)        x̄ = ḡ, or ḡ e^(x/α) (at 0 too: 1)

    ``F.celu`` (Barron 2017); α = 0 is refused (PyTorch too)."""
    alpha = _number("alpha", alpha)
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0 (the negative branch divides by it)")
    x = _as_float(x)
    positive = x.data > 0
    negative_part = where(positive, 0.0, x)            # never exp of a large positive x
    return where(positive, x, expm1(negative_part / alpha) * alpha)


def tanhshrink(x: Tensor) -> Tensor:
    """out = x - tanh x        x̄ = ḡ tanh² x   (``F.tanhshrink``)"""
    x = _as_float(x)
    return x - tanh(x)


def _lambd(name: str, lambd) -> float:
    lambd = _number("lambd", lambd)
    if lambd < 0:
        raise ValueError(f"{name}: lambd must be >= 0, got {lambd}")
    return lambd


def _band(x: Tensor, lambd: float):
    """[-λ ≤ x ≤ λ]: False for NaN, which the shrinks pass through (NaN in, NaN out, as PyTorch)."""
    return (x.data >= -lambd) & (x.data <= lambd)


def hardshrink(x: Tensor, lambd=0.5) -> Tensor:
    """out = 0 where |x| ≤ λ, else x        x̄ = ḡ [not |x| ≤ λ]   (``F.hardshrink``; NaN stays NaN)"""
    x, lambd = _as_float(x), _lambd("hardshrink", lambd)
    return where(_band(x, lambd), 0.0, x)


def softshrink(x: Tensor, lambd=0.5) -> Tensor:
    """out = x - λ (x > λ), x + λ (x < -λ), else 0        x̄ = ḡ [not |x| ≤ λ]   (``F.softshrink``;
    NaN stays NaN)"""
    x, lambd = _as_float(x), _lambd("softshrink", lambd)
    shift = const(x.backend.where(x.data > 0, lambd, -lambd).astype(x.data.dtype), x)
    return where(_band(x, lambd), 0.0, x - shift)


def threshold(x: Tensor, threshold, value) -> Tensor:
    """out = ``value`` where x ≤ threshold, else x        x̄ = ḡ [not x ≤ threshold]
    (``F.threshold``; NaN stays NaN)"""
    x = _as_float(x)
    return where(x.data <= _number("threshold", threshold), _number("value", value), x)


def glu(x: Tensor, dim: int = -1) -> Tensor:
    """Gated linear unit: a σ(b), where a and b are the two halves of x along ``dim`` (``F.glu``)
    ā = ḡ σ(b),  b̄ = ḡ a σ(b) (1 - σ(b))"""
    n = x.shape[dim] if x.ndim else 0
    if n % 2:
        raise ValueError(f"glu: dimension {dim} of a tensor of shape {x.shape} must have an even size")
    a, b = split(x, [n // 2, n // 2], axis=dim)
    return a * sigmoid(b)


def _as_float(x: Tensor) -> Tensor:
    """Integer or bool inputs as the device's default float (the convention of this module)."""
    return x if _is_float(x.dtype) else astype(x, dtype=x.backend.default_float)


# =========================================================================== more of torch's elementwise functions
@binary(save="inputs,out")
def copysign(xp, a, b):
    """out = |a| with the sign of b        ā = ḡ out / a (0 where a = 0),  b̄ = 0   (PyTorch's rule)"""
    return xp.copysign(_floating(xp, a), _floating(xp, b))
copysign.defvjp(lambda g, out, a, b: g * const(a.backend.where(a.data == 0, 0.0, out.data / a.backend.where(
                    a.data == 0, 1.0, a.data)).astype(out.data.dtype), g),
                lambda g, out, a, b: _zeros(g))


@binary(save="inputs,out")
def hypot(xp, a, b):
    """out = √(a² + b²) (without overflow)        ā = ḡ a / out,  b̄ = ḡ b / out   (NaN at 0, as in PyTorch)"""
    return xp.hypot(_floating(xp, a), _floating(xp, b))
hypot.defvjp(lambda g, out, a, b: g * a / out, lambda g, out, a, b: g * b / out)


@primitive
def sinc(xp, x):
    """out = sin(πx) / (πx), 1 at 0        x̄ = ḡ (cos(πx) - out) / x   (normalized, as torch.sinc)

    Near 0 (|x| < 0.1) the derivative is its Taylor series instead,
    sinc'(x) = Σ_{k≥1} (-1)^k 2k π^(2k) x^(2k-1) / (2k+1)!  (= -π²x/3 + ...),
    a polynomial: exact to rounding and differentiable again (sinc''(0) = -π²/3), where the
    quotient above cancels (and was a constant 0 at x = 0, losing the second derivative)."""
    return xp.sinc(_floating(xp, x))


_SINC_SERIES = [(-1) ** k * 2 * k * math.pi ** (2 * k) / math.factorial(2 * k + 1) for k in range(1, 10)]


def _sinc_vjp(g, out, x):
    small = abs(x.data) < 0.1
    near = where(small, x, 0.0)                          # each branch sees only its own inputs
    far = where(small, 1.0, x)
    y, series = near * near, 0.0
    for c in reversed(_SINC_SERIES):                     # Horner: Σ c_k y^(k-1)
        series = series * y + c
    return g * where(small, near * series, (cos(far * math.pi) - sinc(far)) / far)


sinc.defvjp(_sinc_vjp)


@binary
def xlogy(xp, a, b):
    """out = a log b, 0 where a = 0 (unless b is NaN)
    ā = ḡ log b (0 where a = 0 and b ≤ 0),  b̄ = ḡ a / b      (PyTorch's derivatives, measured)"""
    a, b = _floating(xp, a), _floating(xp, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return xp.where((a == 0) & ~xp.isnan(b), 0.0, a * xp.log(b)).astype(a.dtype)
xlogy.defvjp(lambda g, out, a, b: g * where((a.data == 0) & (b.data <= 0), 0.0, log(b)), lambda g, out, a, b: g * a / b)


@primitive(name="logit")
def _logit(xp, x, *, eps):
    """out = log(z / (1 - z)), z = eps where x < eps, 1 - eps where x > 1 - eps, else x (eps None:
    no clamp; eps > 0.5 is PyTorch's order of tests too, not a clip to an empty interval)
    x̄ = ḡ / (x (1 - x)), 0 outside [eps, 1 - eps] (PyTorch's rule; NaN outside [0, 1] without eps)"""
    x = _floating(xp, x)
    z = x if eps is None else xp.where(x < eps, eps, xp.where(x > 1 - eps, 1 - eps, x)).astype(x.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        return xp.log(z / (1 - z))
_logit.defvjp(lambda g, out, x, *, eps: g * where((x.data < 0) | (x.data > 1), math.nan, 1 / (x * (1 - x)))
              if eps is None else g * where((x.data < eps) | (x.data > 1 - eps), 0.0, 1 / (x * (1 - x))))


def logit(x: Tensor, eps=None) -> Tensor:
    """The inverse of σ: log(x / (1 - x)) (``torch.logit``, the same optional clamp ``eps``; a
    negative eps means no clamp, as in PyTorch, values and derivative alike)."""
    eps = None if eps is None else _number("eps", eps)
    return _logit(x, eps=None if eps is None or eps < 0 else eps)


def deg2rad(x: Tensor) -> Tensor:
    """x π / 180."""
    return _as_float(x) * (math.pi / 180)


def rad2deg(x: Tensor) -> Tensor:
    """x 180 / π."""
    return _as_float(x) * (180 / math.pi)


def float_power(a, b) -> Tensor:
    """``a ** b`` in float64 (``torch.float_power``): both operands converted first."""
    a = astype(a, dtype=np.dtype(np.float64)) if isinstance(a, Tensor) else float(a)
    b = astype(b, dtype=np.dtype(np.float64)) if isinstance(b, Tensor) else b
    return a ** b


def prelu(x: Tensor, weight: Tensor) -> Tensor:
    """out = x (x > 0), w x (x ≤ 0), one slope per channel (axis 1) or a single one (``F.prelu``)
    x̄ = ḡ (x > 0), ḡ w (x ≤ 0; at 0 too, as in PyTorch);  w̄ = ḡ x (x ≤ 0)"""
    if weight.ndim != 1 or (weight.shape[0] != 1 and (x.ndim < 2 or x.shape[1] != weight.shape[0])):
        raise ValueError(f"prelu: weight must have shape (1,) or (C,) with C = x.shape[1]; got {weight.shape} "
                         f"for an input of shape {x.shape}")
    w = weight.reshape((-1,) + (1,) * (x.ndim - 2)) if weight.shape[0] != 1 else weight
    return where(x.data > 0, x, w * x)


@binary(name="div_trunc", save="")
def _trunc_divide(xp, a, b):
    """out = a / b rounded towards 0 (integers stay integers; an integer divided by 0 gives 0, as
    NumPy's floor_divide does, where PyTorch raises; two bools are refused, as by floor_divide)
    ā = b̄ = 0"""
    _no_bool("rounding_mode='trunc' division", a)
    if a.dtype.kind in "iu":
        safe = xp.where(b == 0, 1, b)
        q = a // safe
        return xp.where(b == 0, 0, xp.where((a % safe != 0) & ((a < 0) != (b < 0)), q + 1, q)).astype(q.dtype)
    return xp.trunc(a / b)
_trunc_divide.defvjp(lambda g, out, a, b: _zeros(g), lambda g, out, a, b: _zeros(g))


def divide(a, b, *, rounding_mode=None) -> Tensor:
    """``torch.div``: true division (None), or rounded towards 0 (``"trunc"``) or -∞
    (``"floor"``, :func:`floor_divide`); the rounded ones keep integers integers and have a zero
    derivative, as in PyTorch."""
    if rounding_mode is None:
        return div(a, b)
    if rounding_mode == "floor":
        return floor_divide(a, b)
    if rounding_mode == "trunc":
        return _trunc_divide(a, b)
    raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")


true_divide = div
