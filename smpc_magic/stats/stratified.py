"""The Mantel–Haenszel rate ratio: an exposure's rate ratio adjusted for a categorical confounder
by stratification, with the Greenland–Robins confidence interval, from secret events,
person-time, a 0/1 exposure and secret strata (who is in which stratum stays secret).

Per stratum k: a, b the events and T1, T0 the person-time of the exposed and the unexposed,
T = T1 + T0. RR = sum(a T0 / T) / sum(b T1 / T); var(log RR) = sum((a + b) T1 T0 / T**2) /
(sum(a T0 / T) sum(b T1 / T)) (Greenland and Robins 1985); the 95% interval is
exp(log RR +- 1.96 sqrt(var)). A stratum without person-time adds nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import NumericalRangeError
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
) -> StratifiedRateRatio:
    """The rate ratio of ``exposure == 1`` over ``exposure == 0`` adjusted for ``strata`` (a
    secret categorical, ``frame.categorical('sex')``, or a column of whole-number codes with a
    declared range), with the Greenland–Robins 95% interval (see the module). The ratio is
    assumed to lie within [1/max_ratio, max_ratio] (one public bit checks it)."""
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
        too_wide = variance > WIDEST  # (a crude ratio of 1 event against 1 has 2)
        require_none(
            too_wide,
            NumericalRangeError(
                f"{WHAT}: the interval would be wider than a factor of 16 either side of the ratio (too few events "
                "in strata with person-time in both groups); nothing was released. Use fewer strata or pool more data."
            ),
        )
        variance = claim_bound(variance - (variance - WIDEST) * too_wide, 2.0**-20, WIDEST)
        lower, upper = log_scale_limits(r, s, variance, max_ratio)
    numerator, denominator = (str(v) for v in labels)
    result = StratifiedRateRatio(
        ratio=ratio,
        lower=lower,
        upper=upper,
        method="Mantel-Haenszel, Greenland-Robins interval",
        numerator=numerator,
        denominator=denominator,
        strata=np.array(levels),
    )
    rules = (Requirement(COUNT, counts), Requirement(ROWS, rows), Requirement(LEVELS, len(levels)))
    return declare(result, *rules, covers=(events, exposure, strata))
