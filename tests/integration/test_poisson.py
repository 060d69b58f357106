"""Poisson regression with person-time as offset (adjusted incidence rate ratios, the Box 1
analysis) with real party processes, against statsmodels' GLM."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from smpc_magic import simulate
from smpc_magic.errors import RangeNeededError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

RANGES = {"age": (40, 96), "prior_stroke": (0, 1), "doac": (0, 1), "ich": (0, 4), "followup": (0.1, 5.0)}


def _board(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)  # (test data only)
    age = rng.integers(40, 96, n)
    prior = (rng.random(n) < 0.15).astype(int)
    doac = (rng.random(n) < 0.6).astype(int)
    followup = np.round(rng.uniform(0.1, 5.0, n), 2)
    rate = 0.02 * np.exp(0.04 * (age - 70) + 0.7 * prior - 0.5 * doac)
    ich = np.minimum(rng.poisson(rate * followup), 4)
    return pd.DataFrame({"age": age, "prior_stroke": prior, "doac": doac, "ich": ich, "followup": followup})


@pytest.fixture(scope="module")
def boards():
    return {"north": _board(1, 1400), "south": _board(2, 900), "west": _board(3, 600)}


def test_adjusted_rate_ratios_match_statsmodels_glm_with_a_log_offset(boards):
    cell = (
        "fit = smpc.stats.poisson(cohort[['age', 'prior_stroke', 'doac']], cohort['ich'], cohort['followup'])\n"
        "old = smpc.stats.poisson(cohort[['doac']], cohort['ich'], cohort['followup'], where=cohort['age'] > 70)"
    )
    inputs = {name: {"cohort": frame} for name, frame in boards.items()}
    out = simulate(cell, inputs, "fit old", ranges=RANGES, timeout=240)
    pooled = pd.concat(list(boards.values()), ignore_index=True)
    covariates = pooled[["age", "prior_stroke", "doac"]]
    ref = sm.GLM(
        pooled["ich"], sm.add_constant(covariates), family=sm.families.Poisson(), offset=np.log(pooled["followup"])
    ).fit()
    fit = out["fit"]
    assert np.abs((np.asarray(fit.coef) - ref.params.to_numpy()) / ref.bse.to_numpy()).max() < 0.02
    assert np.asarray(fit.se) == pytest.approx(ref.bse.to_numpy(), rel=0.02)
    assert np.asarray(fit.rate_ratios) == pytest.approx(np.exp(ref.params.to_numpy()), rel=0.01)
    assert int(round(float(fit.events))) == int(pooled["ich"].sum())
    assert "rate ratios" in fit.summary() and "<th>doac</th>" in fit._repr_html_()
    old = pooled[pooled["age"] > 70]
    ref_old = sm.GLM(
        old["ich"], sm.add_constant(old[["doac"]]), family=sm.families.Poisson(), offset=np.log(old["followup"])
    ).fit()
    assert np.abs((np.asarray(out["old"].coef) - ref_old.params.to_numpy()) / ref_old.bse.to_numpy()).max() < 0.02
    assert int(round(float(out["old"].nobs))) == len(old)


def test_person_time_that_may_be_zero_is_refused_naming_the_cause(boards):
    inputs = {name: {"cohort": frame} for name, frame in boards.items()}
    ranges = {**RANGES, "followup": (0.0, 5.0)}
    with pytest.raises(RangeNeededError, match="exposure .person-time. must be declared positive"):
        simulate(
            "fit = smpc.stats.poisson(cohort[['age']], cohort['ich'], cohort['followup'])",
            inputs,
            "fit",
            ranges=ranges,
            timeout=60,
        )
