"""Incidence rates and rate ratios with confidence intervals, from secret event indicators (or
counts) and person-time, pooled across sites.

Intervals:
- a rate: Byar's approximation to the exact (Garwood) Poisson interval, computed securely from
  the event count D and person-time T:
  lower = D (1 - 1/(9D) - z/(3 sqrt D))^3 / T, upper = (D+1) (1 - 1/(9(D+1)) + z/(3 sqrt(D+1)))^3 / T.
  It is within 1% of the exact interval from D = 5 and within 0.1% from D = 30 or so;
  :func:`exact_rate_interval` gives the exact one for comparison after release.
- a rate ratio: the Wald interval on the log scale, exp(log RR +- z sqrt(1/D1 + 1/D0)).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import NumericalRangeError, RangeNeededError
from ..secret.functions import divide, exp, reciprocal, rsqrt
from ..secret.precision import claim_bound, public_bound, working_precision
from .checks import require_none
from .design import vector
from .disclosure import COUNT, ROWS, Requirement, declare
from .missing import rows_observed
from .results import ReleasedResult, SecretResult

Z95 = 1.959963984540054
WORKING_BITS = 24


class Rate(SecretResult):
    KIND = "rate"
    SECRET = ("rate", "lower", "upper")
    PUBLIC = ("per", "method")


class RateRatio(SecretResult):
    KIND = "rate_ratio"
    SECRET = ("ratio", "lower", "upper")
    PUBLIC = ("method", "numerator", "denominator")


def _require_events(counts: Any, what: str) -> None:
    """One public bit: every count is at least 1 (an interval needs an event)."""
    missing = (counts < 0.5).sum()
    require_none(
        missing,
        NumericalRangeError(
            f"{what}: a group has no events, so its rate interval (or the ratio) is undefined; nothing "
            "was released. Pool more data or merge groups."
        ),
    )


def _require_within(ratio: Any, max_ratio: float, what: str) -> None:
    outside: Any = (ratio > max_ratio) + (ratio < 1.0 / max_ratio)
    require_none(
        outside,
        NumericalRangeError(
            f"{what}: the rate ratio lies outside [1/{max_ratio:g}, {max_ratio:g}]; nothing was released. "
            "Pass a larger max_ratio= if such a ratio is plausible."
        ),
    )


def _positive_total(person_time: Any, what: str) -> tuple[Any, float]:
    lo, hi = public_bound(person_time)
    if float(lo.min()) < -1e-3:  # (fixed-point inputs carry half a rounding step below 0)
        raise RangeNeededError(
            f"{what}: person-time must be declared non-negative (its range starts at {float(lo.min()):.4g}). Nothing "
            "was sent. Declare its range with a minimum of 0 or more"
        )
    return person_time.sum(), float(hi.max()) * len(person_time)


def _byar(count: Any, n: int, z: float, per: float) -> tuple[Any, Any]:
    """Byar's lower and upper limits times ``per``, before the division by the person-time, for
    a count d >= 1. D and D + 1 go through each function together (one batch, one set of rounds)."""
    d: Any = claim_bound(count * 1.0, 1.0, float(n))
    both: Any = np.concatenate([d.reshape(1), (d + 1.0).reshape(1)])
    inv: Any = reciprocal(both)
    root_inv: Any = rsqrt(both)
    low_base = claim_bound(1.0 - inv[0] / 9.0 - (z / 3.0) * root_inv[0], -1.0, 1.0)
    high_base = claim_bound(1.0 - inv[1] / 9.0 + (z / 3.0) * root_inv[1], 0.0, 2.0)
    low_base = low_base * (low_base > 0)  # D = 1 with z = 1.96 goes below 0: the limit is 0
    lower = d * (low_base * low_base * low_base)
    upper = both[1] * (high_base * high_base * high_base)
    return lower * per, upper * per


def incidence_rate(events: Any, person_time: Any, per: float = 1000.0) -> Rate:
    """Events per ``per`` units of person-time, with Byar's 95% interval (see the module)."""
    what = "smpc.stats.incidence_rate"
    e, t = vector(events, what), vector(person_time, what)
    n = len(e)
    e, t, rows = _kept(what, e, t)
    total, t_top = _positive_total(t, what)
    most = n * int(max(1, float(public_bound(e)[1].max())))
    count = claim_bound(e.sum(), 0.0, float(most))
    _require_events(count, what)
    with working_precision(count, WORKING_BITS):
        total = claim_bound(total, 2.0**-8, t_top)
        lower, upper = _byar(count, most, Z95, per)
        # the rate and both limits over the person-time in one division batch
        numerators: Any = np.concatenate([(count * per).reshape(1), lower.reshape(1), upper.reshape(1)])
        rate, lower, upper = divide(numerators, total.reshape(1))
    result = Rate(rate=rate, lower=lower, upper=upper, per=per, method="Byar")
    return declare(result, Requirement(COUNT, count), Requirement(ROWS, rows), covers=(events,))


def rate_ratio(
    events: Any,
    person_time: Any,
    group: Any,
    *,
    max_ratio: float = 1000.0,
    labels: tuple[str, str] = ("group = 1", "group = 0"),
) -> RateRatio:
    """The rate in ``group == 1`` over the rate in ``group == 0`` (a secret 0/1 column), with
    the Wald 95% interval on the log scale; ``labels`` name the numerator's and the
    denominator's group in the result (``("apixaban", "warfarin")``). The ratio is assumed to lie within
    [1/max_ratio, max_ratio] (one public bit checks it): that range, not the loose one the
    person-time ranges allow, sets the precision."""
    what = "smpc.stats.rate_ratio"
    e, t, g = vector(events, what), vector(person_time, what), vector(group, what)
    n = len(e)
    e, t, rows, g = _kept(what, e, t, g)
    _, t_top = _positive_total(t, what)
    paired = np.column_stack([e, t]) * g[:, None]  # one round: events and time in the group
    e1, t1 = paired[:, 0].sum(), paired[:, 1].sum()
    e0, t0 = e.sum() - e1, t.sum() - t1
    _require_events(np.concatenate([e1.reshape(1), e0.reshape(1)]), what)
    most = float(n) * max(1.0, float(public_bound(e)[1].max()))
    with working_precision(e1, WORKING_BITS):
        d1, d0 = claim_bound(e1 * 1.0, 1.0, most), claim_bound(e0 * 1.0, 1.0, most)
        t1, t0 = claim_bound(t1, 2.0**-8, t_top), claim_bound(t0, 2.0**-8, t_top)
        numerator, denominator = d1 * t0, claim_bound(t1 * d0, 2.0**-8, most * t_top)
        pair: Any = np.concatenate([d1.reshape(1), d0.reshape(1)])
        inverses: Any = reciprocal(pair)  # one batch
        variance = claim_bound(inverses[0] + inverses[1], 2.0 / most, 2.0)
        ratio = divide(numerator, denominator, known=(1.0 / max_ratio, max_ratio))
        _require_within(ratio, max_ratio, what)
        lower, upper = log_scale_limits(numerator, denominator, variance, max_ratio)  # var: 1/D1 + 1/D0
    numerator_label, denominator_label = (str(v) for v in labels)
    result = RateRatio(
        ratio=ratio,
        lower=lower,
        upper=upper,
        method="Wald (log scale)",
        numerator=numerator_label,
        denominator=denominator_label,
    )
    counts = np.concatenate([e1.reshape(1), e0.reshape(1)])
    return declare(result, Requirement(COUNT, counts), Requirement(ROWS, rows), covers=(events, group))


def log_scale_limits(numerator: Any, denominator: Any, variance: Any, max_ratio: float) -> tuple[Any, Any]:
    """The 95% limits of numerator / denominator, exp(+-z sqrt(variance)) on the log scale, with
    z sqrt(variance) <= 2.8 (the caller checks or proves it): both in one division batch."""
    spread = claim_bound(Z95 * (variance * rsqrt(variance)), 0.0, 2.8)
    factor = claim_bound(exp(spread), 1.0, 16.5)
    wide = (1.0 / (17 * max_ratio), 17 * max_ratio)
    tops: Any = np.concatenate([numerator.reshape(1), (numerator * factor).reshape(1)])
    bottoms: Any = np.concatenate([(denominator * factor).reshape(1), denominator.reshape(1)])
    lower, upper = divide(tops, bottoms, known=wide)
    return lower, upper


def _kept(what: str, e: Any, t: Any, *groups: Any) -> tuple[Any, ...]:
    """Events and person-time with the rows left out (missing values, a secret filter) as 0,
    the rows kept (a count, or the public n) and the groups as given (their left-out rows then
    hold no events and no time)."""
    kept = rows_observed([e, t, *groups], len(e), what)
    if kept is None:
        return (e, t, len(e), *groups)
    return (e * kept, t * kept, kept.sum(), *groups)  # (events stay whole numbers)


def exact_rate_interval(
    events: int, person_time: float, per: float = 1000.0, level: float = 0.95
) -> tuple[float, float]:
    """The exact (Garwood) Poisson interval, in plaintext: for checking a released Byar interval."""
    from scipy import stats as dist

    alpha = 1 - level
    lower = dist.chi2.ppf(alpha / 2, 2 * events) / 2 if events > 0 else 0.0
    upper = dist.chi2.ppf(1 - alpha / 2, 2 * events + 2) / 2
    return per * lower / person_time, per * upper / person_time


class RateResult(ReleasedResult):
    KIND = "rate"

    def summary(self) -> str:
        return (
            f"Incidence rate (secure, pooled): {self.rate:.4f} per {self.per:g} person-time units, "
            f"95% CI {self.lower:.4f} to {self.upper:.4f} ({self.method})"
        )


class RateRatioResult(ReleasedResult):
    KIND = "rate_ratio"

    def summary(self) -> str:
        compared = f"{self.numerator} over {self.denominator}, " if self.has("numerator", "denominator") else ""
        return (
            f"Rate ratio ({compared}secure, pooled): {self.ratio:.4f}, 95% CI {self.lower:.4f} to "
            f"{self.upper:.4f} ({self.method})"
        )
