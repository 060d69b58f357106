"""Accuracy carried beside magnitude: each function's stated error, and the check before release.

Every secret's :class:`~smpc_magic.secret.bounds.Bound` carries ``err``, a public bound on how far
the stored value may be from the exact result of the cell's operations on its inputs. Arithmetic
carries it (:mod:`smpc_magic.secret.bounds`); the functions of the library add the accuracy their
documentation states plus what their input's error does to them (:func:`stated`). Before a value
is opened, :func:`check_release` compares its error with its public range: a value that could be
off by more than :data:`RELATIVE` of its range (or :data:`ABSOLUTE_ULPS` units of the last place,
whichever is larger) stops the cell with :class:`~smpc_magic.errors.PrecisionError`, before
anything is sent. Everything here is public (bounds and errors follow from declared ranges and
the cell's code), so every party decides the same way.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np

from ..errors import PrecisionError
from .core import SecretCore

#: A released value may be off by at most this fraction of its public range ...
RELATIVE = 1e-3
#: ... or this many units of the last fractional place, whichever is larger.
ABSOLUTE_ULPS = 16
#: A statistic's values (means, variances, quantiles, ...) are within this fraction of their
#: range plus a few units of the last place: README's accuracy column, checked against plaintext
#: references in the tests. Their error is that statement, not an interval bound through the
#: Newton steps and public rescalings inside the statistic (which knows, say, that a mean's
#: divisor counts the rows its sum adds, where a generic bound must assume a divisor near 0).
STATISTIC_RELATIVE = 1e-4

Propagate = Callable[[Any, float, float], float]
F = TypeVar("F", bound=Callable[..., Any])
S = TypeVar("S", bound=SecretCore)


def _input_error(x: Any) -> tuple[float, float, float]:
    """(error, smallest |x|, largest |x|) of a function's secret input (0s for public ones)."""
    if not isinstance(x, SecretCore):
        return 0.0, 0.0, 0.0
    b = x._bound
    step = 2.0**-x._scale if x._scale else 1.0  # the smallest non-zero magnitude x can hold
    return b.error(), max(b.smallest_magnitude(), step), b.magnitude()


def stated(relative: float, ulps: float, propagate: Propagate, absolute: float = 0.0) -> Callable[[F], F]:
    """Decorate a library function of one secret: its result's error is ``relative`` of the
    result's range plus ``ulps`` units of its last place plus ``absolute`` (the accuracy its
    docstring states) plus ``propagate(bound, error, smallest)``, how far the input's own error
    can move it."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(x: Any, *args: Any, **kwargs: Any) -> Any:
            out = fn(x, *args, **kwargs)
            error, smallest, largest = _input_error(x)
            with np.errstate(invalid="ignore", over="ignore"):
                carried = propagate(x._bound if isinstance(x, SecretCore) else None, error, smallest)
                own = relative * out._bound.magnitude() + ulps * 2.0**-out._scale + absolute
            return _with_error(out, own + carried)

        return cast(F, inner)

    return wrap


def _with_error(x: S, err: float) -> S:
    x._bound = x._bound.with_error(np.full((1,) * x.ndim, float(err)))
    return x


def stated_by_statistic(x: S, relative: float = STATISTIC_RELATIVE, ulps: float = 4) -> S:
    """``x``, a statistic's value, with the error its documentation states (elementwise, of each
    element's range), or the carried one where that is smaller."""
    stated = relative * x._bound.magnitudes() + ulps * 2.0**-x._scale
    with np.errstate(invalid="ignore"):
        err = np.fmin(x._bound.err, stated) if x._bound.err.size else stated
    x._bound = x._bound.with_error(err)
    return x


def divided_error(a: Any, b: Any, out: S, relative: float, ulps: float) -> S:
    """a / b: a's error over |b|, a's size times how far b's error moves 1/b, and the stated
    accuracy of the division."""
    ea, _, ma = _input_error(a) if isinstance(a, SecretCore) else (0.0, 0.0, float(np.abs(a).max(initial=0.0)))
    eb, sb, _ = _input_error(b)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        through_b = ma * reciprocal_error(None, eb, sb)
        err = ea / sb + through_b + relative * out._bound.magnitude() + ulps * 2.0**-out._scale
    return _with_error(out, err)


# ----- how an input's error moves each function (``bound`` is the input's, ``s`` its smallest |x|)
def reciprocal_error(bound: Any, err: float, s: float) -> float:
    """|1/x - 1/(x + e)| <= e / (s (s - e)); unbounded when x may be within its error of 0."""
    return 0.0 if err == 0 else (err / (s * (s - err)) if s > err else math.inf)


def rsqrt_error(bound: Any, err: float, s: float) -> float:
    return 0.0 if err == 0 else (err / (2 * (s - err) ** 1.5) if s > err else math.inf)


def sqrt_error(bound: Any, err: float, s: float) -> float:
    """|sqrt(a) - sqrt(b)| <= sqrt(|a - b|), and <= e / (2 sqrt(s)) away from 0."""
    return 0.0 if err == 0 else min(math.sqrt(err), err / (2 * math.sqrt(s)))


def exp_error(bound: Any, err: float, s: float) -> float:
    top = float(bound.hi.max()) if bound is not None and bound.hi.size else 0.0
    return 0.0 if err == 0 else math.exp(min(top, 11.0)) * math.expm1(min(err, 700.0))  # (e**700: inf)


def log_error(bound: Any, err: float, s: float) -> float:
    return 0.0 if err == 0 else (math.log(s / (s - err)) if s > err else math.inf)


def lipschitz(constant: float) -> Propagate:
    return lambda bound, err, s: constant * err


def tolerance(x: SecretCore) -> float:
    """The most a released ``x`` may be off: :data:`RELATIVE` of its range, or
    :data:`ABSOLUTE_ULPS` units of the last place."""
    return max(RELATIVE * x._bound.magnitude(), ABSOLUTE_ULPS * 2.0**-x._ctx.frac_bits)


def beyond_tolerance(x: Any) -> bool:
    """Whether ``x`` could be further from its exact value than a release of it may be (then a
    comparison or rounding of it is no longer exact on anything that means something)."""
    if not isinstance(x, SecretCore) or not x.size:
        return False
    error = x._bound.error()
    return bool(math.isnan(error) or error > tolerance(x))


def check_release(values: dict[str, Any], frac_bits: int) -> None:
    """Raise :class:`PrecisionError` before anything is opened when a value's carried error is
    beyond the accuracy a release promises (an error that is not a number, as an unbounded one
    times 0 gives, is unbounded)."""
    for name, value in values.items():
        if not isinstance(value, SecretCore) or not value.size:
            continue
        error = value._bound.error()
        if math.isnan(error):
            error = math.inf
        magnitude = value._bound.magnitude()
        allowed = max(RELATIVE * magnitude, ABSOLUTE_ULPS * 2.0**-frac_bits)
        if error > allowed:
            raise PrecisionError(
                f"releasing {name}: the value could be off by "
                f"{f'{error:.3g}' if math.isfinite(error) else 'an unbounded amount'} (its public range reaches "
                f"{magnitude:.4g}), more than the {allowed:.3g} a release allows. The error comes from the "
                "fixed-point steps of the cell: a division or reciprocal, square root or log of a value "
                "that may be close to 0, or values so large that products dropped fractional bits. Nothing "
                "was released. Declare tighter ranges for the inputs (in the study schema, or with `%smpc "
                "private NAME --range MIN MAX`), a positive minimum for a divisor, rescale the data, or "
                "raise the session's frac_bits."
            )


def error_of(value: Any) -> float:
    """A released secret's carried absolute error."""
    return value._bound.error() if isinstance(value, SecretCore) else 0.0
