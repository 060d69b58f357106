"""The Mantel–Haenszel rate ratio: an exposure's rate ratio adjusted for a categorical confounder
by stratification, with the Greenland–Robins confidence interval, from secret events,
person-time, a 0/1 exposure and secret strata (who is in which stratum stays secret).

Per stratum k: a, b the events and T1, T0 the person-time of the exposed and the unexposed,
T = T1 + T0. RR = sum(a T0 / T) / sum(b T1 / T); var(log RR) = sum((a + b) T1 T0 / T**2) /
(sum(a T0 / T) sum(b T1 / T)) (Greenland and Robins 1985); the 95% interval is
exp(log RR +- 1.96 sqrt(var)). A stratum without person-time adds nothing.

Without person-time (``person_time=None``) ``events`` is a 0/1 outcome and the result is the
Mantel–Haenszel odds ratio: per stratum a, b the exposed with and without the outcome, c, d the
unexposed, n = a + b + c + d; OR = sum(a d / n) / sum(b c / n), with the Robins–Breslow–
Greenland variance of log OR (as statsmodels' ``StratifiedTable``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import NumericalRangeError, SecretValueError
from ..secret.functions import divide, reciprocal
from ..secret.precision import claim_bound, public_bound, working_precision
from .checks import require_none
from .descriptive import _groups, _secret_parts
from .design import vector
from .disclosure import COUNT, LEVELS, ROWS, Requirement, declare
from .missing import rows_observed
from .rates import RateRatio, RateRatioResult, _positive_total, _require_within, log_scale_limits
from .results import SecretResult

WORKING_BITS = 24
#: the widest var(log RR) released: z sqrt(var) <= 2.8, a factor of 16.4 either side
WIDEST = (2.8 / 1.959963984540054) ** 2
WHAT = "smpc.stats.mantel_haenszel"


class StratifiedRateRatio(SecretResult):
    KIND = "mantel_haenszel"
    SECRET = RateRatio.SECRET
    PUBLIC = ("method", "numerator", "denominator", "strata")


class StratifiedOddsRatio(SecretResult):
    KIND = "mantel_haenszel_odds"
    SECRET = RateRatio.SECRET
    PUBLIC = ("method", "numerator", "denominator", "strata")


class StratifiedOddsRatioResult(RateRatioResult):
    KIND = "mantel_haenszel_odds"

    def summary(self) -> str:
        strata = ", ".join(str(v) for v in np.asarray(self.strata).reshape(-1)) if self.has("strata") else "?"
        return super().summary().replace("Rate ratio (", f"Odds ratio adjusted for strata {strata} (", 1)


class StratifiedRateRatioResult(RateRatioResult):
    KIND = "mantel_haenszel"

    def summary(self) -> str:
        strata = ", ".join(str(v) for v in np.asarray(self.strata).reshape(-1)) if self.has("strata") else "?"
        return super().summary().replace("Rate ratio (", f"Rate ratio adjusted for strata {strata} (", 1)


def mantel_haenszel(
    events: Any,
    person_time: Any,
    exposure: Any,
    strata: Any,
    *,
    max_ratio: float = 1000.0,
    labels: tuple[str, str] = ("exposed", "unexposed"),
) -> StratifiedRateRatio | StratifiedOddsRatio:
    """The rate ratio of ``exposure == 1`` over ``exposure == 0`` adjusted for ``strata`` (a
    secret categorical, ``frame.categorical('sex')``, or a column of whole-number codes with a
    declared range), with the Greenland–Robins 95% interval (see the module). The ratio is
    assumed to lie within [1/max_ratio, max_ratio] (one public bit checks it).
    ``person_time=None``: ``events`` is a 0/1 outcome and the result is the Mantel–Haenszel
    odds ratio with the Robins–Breslow–Greenland interval."""
    if person_time is None:
        return _odds_ratio(events, exposure, strata, max_ratio, labels)
    e, t, x = (vector(v, WHAT) for v in (events, person_time, exposure))
    n = len(e)
    one_hot, _, levels, _ = _groups(strata, n, WHAT)
    kept = rows_observed([e, t, x, *_secret_parts(strata)], n, WHAT)
    rows: Any = n
    if kept is not None:
        e, t, rows = e * kept, t * kept, kept.sum()
    _, t_top = _positive_total(t, WHAT)
    exposed = np.column_stack([e, t]) * x[:, None]  # one round
    cells: Any = np.column_stack([exposed[:, 0], e - exposed[:, 0], exposed[:, 1], t - exposed[:, 1]])
    sums = one_hot.T @ cells  # strata x (a, b, T1, T0): one round
    most = float(n) * max(1.0, float(public_bound(e)[1].max()))
    a, b = claim_bound(sums[:, 0] * 1.0, 0.0, most), claim_bound(sums[:, 1] * 1.0, 0.0, most)
    counts = np.concatenate([sums[:, 0], sums[:, 1]])
    with working_precision(a, WORKING_BITS):
        t1, t0 = claim_bound(sums[:, 2], 0.0, t_top), claim_bound(sums[:, 3], 0.0, t_top)
        total = claim_bound(t1 + t0, 0.0, t_top)
        # each stratum's shares of person-time (0 for a stratum without any): one division batch
        shares: Any = divide(np.concatenate([t0, t1]), np.concatenate([total, total]), known=(0.0, 1.0))
        k = len(levels)
        q, w = claim_bound(shares[:k], 0.0, 1.0), claim_bound(shares[k:], 0.0, 1.0)
        terms: Any = np.column_stack([a, b, a + b]) * np.column_stack([q, w, q * w])  # one round (q w: one more)
        r, s, p = (claim_bound(terms[:, j].sum(), 0.0, most) for j in range(3))
        # informative strata: exposed and unexposed events weighed by the other group's time
        require_none(
            np.concatenate([(r < 2.0**-6).reshape(1), (s < 2.0**-6).reshape(1)]),
            NumericalRangeError(
                f"{WHAT}: no stratum has events in one exposure group beside person-time in the other, so the "
                "ratio is undefined; nothing was released. Use fewer strata or pool more data."
            ),
        )
        r, s = claim_bound(r, 2.0**-6, most), claim_bound(s, 2.0**-6, most)
        ratio = divide(r, s, known=(1.0 / max_ratio, max_ratio))
        _require_within(ratio, max_ratio, WHAT)
        both: Any = np.concatenate([r.reshape(1), s.reshape(1)])
        inverses: Any = reciprocal(both)  # one batch
        variance = p * inverses[0] * inverses[1]
        # (a crude ratio of 1 event against 1 has a variance of 2)
        lower, upper = _limits(r, s, variance, max_ratio, "too few events in strata with person-time in both groups")
    result = StratifiedRateRatio(
        ratio=ratio,
        lower=lower,
        upper=upper,
        method="Mantel-Haenszel, Greenland-Robins interval",
        **_labelled(labels, levels),
    )
    return _declared(result, counts, rows, levels, (events, exposure, strata))


def _limits(r: Any, s: Any, variance: Any, max_ratio: float, why: str) -> tuple[Any, Any]:
    """The 95% limits of r / s on the log scale; a variance beyond WIDEST stops the cell (one bit)."""
    too_wide = variance > WIDEST
    require_none(
        too_wide,
        NumericalRangeError(
            f"{WHAT}: the interval would be wider than a factor of 16 either side of the ratio ({why}); nothing "
            "was released. Use fewer strata or pool more data."
        ),
    )
    capped = claim_bound(variance - (variance - WIDEST) * too_wide, 2.0**-20, WIDEST)
    return log_scale_limits(r, s, capped, max_ratio)  # type: ignore[no-any-return]


def _labelled(labels: tuple[str, str], levels: list[str]) -> dict[str, Any]:
    numerator, denominator = (str(v) for v in labels)
    return {"numerator": numerator, "denominator": denominator, "strata": np.array(levels)}


def _declared(result: Any, counts: Any, rows: Any, levels: list[str], covers: tuple[Any, ...]) -> Any:
    """Each stratum's cells are counts; the rows and the strata's number are checked."""
    rules = (Requirement(COUNT, counts), Requirement(ROWS, rows), Requirement(LEVELS, len(levels)))
    return declare(result, *rules, covers=covers)


def _odds_ratio(
    outcome: Any, exposure: Any, strata: Any, max_ratio: float, labels: tuple[str, str]
) -> StratifiedOddsRatio:
    y, x = vector(outcome, WHAT), vector(exposure, WHAT)
    n = len(y)
    for v, name in ((y, "the outcome"), (x, "exposure")):
        low, high = public_bound(v)
        if float(low.min()) < 0 or float(high.max()) > 1 or v.is_integer is False:
            raise SecretValueError(
                f"{WHAT}: without person_time (the odds-ratio form) {name} is a 0/1 column (a binary variable or a "
                "comparison)"
            )
    one_hot, _, levels, _ = _groups(strata, n, WHAT)
    kept = rows_observed([y, x, *_secret_parts(strata)], n, WHAT)
    every: Any = kept if kept is not None else x * 0 + 1
    both: Any = np.column_stack([y, x]) * every[:, None]  # one round
    yk, xk = both[:, 0], both[:, 1]
    tallies = one_hot.T @ np.column_stack([yk * x, xk, yk, every])  # two rounds: per stratum A, X, Y, N
    cases_exposed, exposed, cases, size = (tallies[:, j] for j in range(4))
    a, b, c = cases_exposed, exposed - cases_exposed, cases - cases_exposed
    d = size - exposed - cases + cases_exposed
    counts = np.concatenate([a, b, c, d])
    top = float(n)
    with working_precision(y * 1.0, WORKING_BITS):
        products: Any = np.column_stack([a, b]) * np.column_stack([d, c])  # a d, b c (one round)
        tops = np.concatenate([np.full(len(levels) * 2, top / 4), np.ones(len(levels) * 2)])
        shares: Any = divide(
            np.concatenate([products[:, 0], products[:, 1], a + d, b + c]) * 1.0,
            np.concatenate([size, size, size, size]) * 1.0,
            known=(0.0, tops),
        )  # one batch: R_k, S_k, P_k, Q_k (a stratum without rows gives 0)
        k = len(levels)
        rk, sk = claim_bound(shares[:k], 0.0, top / 4), claim_bound(shares[k : 2 * k], 0.0, top / 4)
        pk, qk = claim_bound(shares[2 * k : 3 * k], 0.0, 1.0), claim_bound(shares[3 * k :], 0.0, 1.0)
        r, s_ = claim_bound(rk.sum(), 0.0, top / 4), claim_bound(sk.sum(), 0.0, top / 4)
        require_none(
            np.concatenate([(r < 2.0**-6).reshape(1), (s_ < 2.0**-6).reshape(1)]),
            NumericalRangeError(
                f"{WHAT}: no stratum has exposed cases beside unexposed non-cases (or the reverse), so the odds "
                "ratio is undefined; nothing was released. Use fewer strata or pool more data."
            ),
        )
        r, s_ = claim_bound(r, 2.0**-6, top / 4), claim_bound(s_, 2.0**-6, top / 4)
        ratio = divide(r, s_, known=(1.0 / max_ratio, max_ratio))
        _require_within(ratio, max_ratio, WHAT)
        weighted: Any = np.column_stack([pk, pk, qk, qk]) * np.column_stack([rk, sk, rk, sk])  # one round
        pr, ps, qr, qs = (claim_bound(weighted[:, j].sum(), 0.0, top / 4) for j in range(4))
        pair: Any = np.concatenate([r.reshape(1), s_.reshape(1)])
        inverses: Any = reciprocal(pair)  # one batch
        ir, is_ = claim_bound(inverses[0], 0.0, 2.0**6), claim_bound(inverses[1], 0.0, 2.0**6)
        # Robins-Breslow-Greenland: PR / 2R^2 + (PS + QR) / 2RS + QS / 2S^2, each term at most 1 / (2R or 2S)
        first = claim_bound(pr * ir, 0.0, 1.0) * ir
        middle = claim_bound((ps + qr) * ir, 0.0, 2.0 * top) * is_
        last = claim_bound(qs * is_, 0.0, 1.0) * is_
        variance = claim_bound((first + middle + last) * 0.5, 0.0, 2.0**13)
        lower, upper = _limits(r, s_, variance, max_ratio, "too few cases in strata with both groups")
    result = StratifiedOddsRatio(
        ratio=ratio,
        lower=lower,
        upper=upper,
        method="Mantel-Haenszel odds ratio, Robins-Breslow-Greenland interval",
        **_labelled(labels, levels),
    )
    rows: Any = kept.sum() if kept is not None else n
    return _declared(result, counts, rows, levels, (outcome, exposure, strata))  # type: ignore[no-any-return]
