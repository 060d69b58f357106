"""Kaplan-Meier's standard errors on a large cohort: relative, not only absolute, accuracy
(the protocol's arithmetic is the same under both sharings; this runs under the additive one)."""

import numpy as np
import pytest

from smpc_magic import stats

pytestmark = pytest.mark.timeout(300)


def test_kaplan_meier_standard_errors_of_a_large_cohort_with_rare_events_are_right_relative_to_their_size(parties):
    """Greenwood's terms d / (r (r - 1)) are about 6e-8 early in a curve of 4,000 rows, below the
    fixed-point step: computed as they are written, the SEs (about 1e-3) came out 0 or off by
    their own size while within README's 1e-3 absolute."""
    from lifelines import KaplanMeierFitter

    rng = np.random.default_rng(7)  # (test data only)
    n = 4000
    days = rng.integers(1, 366, n)
    event = (rng.random(n) < 0.01).astype(np.int64)
    grid = [30, 90, 300]
    out = parties.compute(lambda t, e: stats.kaplan_meier(t, e, grid).se, days, event, ranges=[(1, 365), (0, 1)])
    kmf = KaplanMeierFitter().fit(days, event)
    table = kmf.event_table
    greenwood = (table["observed"] / (table["at_risk"] * (table["at_risk"] - table["observed"]))).cumsum()
    se = kmf.survival_function_["KM_estimate"] * np.sqrt(greenwood)
    want = np.array([se[se.index <= g].iloc[-1] for g in grid])
    assert want.max() < 4e-3  # (SEs the size of README's absolute 1e-3)
    assert np.asarray(out) == pytest.approx(want, rel=0.01)
