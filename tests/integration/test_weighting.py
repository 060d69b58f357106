"""Confounding adjustment by inverse probability of treatment weights (the Box 1 study's
IPTW rate ratio) with real party processes: secret propensity weights, a weighted Poisson
regression with robust (HC0) standard errors, against statsmodels; the weights cannot be
crafted, changed or released."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from smpc_magic import simulate
from smpc_magic.errors import DisclosureError, NumericalRangeError, SecretValueError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

RANGES = {"age": (40, 96), "prior_stroke": (0, 1), "doac": (0, 1), "ich": (0, 4), "followup": (0.1, 5.0)}


def _board(seed: int, n: int, young_almost_always_treated: bool = False) -> pd.DataFrame:
    """Older patients and those with a prior stroke get the DOAC less often (confounding by
    indication); both also raise the rate of intracranial haemorrhage."""
    rng = np.random.default_rng(seed)  # (test data only)
    age = rng.integers(40, 96, n)
    prior = (rng.random(n) < 0.15).astype(int)
    p = 1 / (1 + np.exp(-(0.5 - 0.03 * (age - 70) - 0.8 * prior)))
    if young_almost_always_treated:  # propensity above 0.99 under 50
        p = 1 / (1 + np.exp(-(8 - 0.15 * (age - 40))))
    doac = (rng.random(n) < p).astype(int)
    followup = np.round(rng.uniform(0.1, 5.0, n), 2)
    rate = 0.03 * np.exp(0.04 * (age - 70) + 0.7 * prior - 0.5 * doac)
    ich = np.minimum(rng.poisson(rate * followup), 4)
    return pd.DataFrame({"age": age, "prior_stroke": prior, "doac": doac, "ich": ich, "followup": followup})


@pytest.fixture(scope="module")
def boards() -> dict[str, pd.DataFrame]:
    return {"north": _board(1, 700), "south": _board(2, 450), "west": _board(3, 300)}


def _inputs(boards: dict[str, pd.DataFrame]) -> dict[str, dict[str, pd.DataFrame]]:
    return {name: {"cohort": frame} for name, frame in boards.items()}


def _reference_weights(pooled: pd.DataFrame) -> np.ndarray:
    ps = sm.Logit(pooled["doac"], sm.add_constant(pooled[["age", "prior_stroke"]])).fit(disp=0).predict()
    share = pooled["doac"].mean()
    return np.where(pooled["doac"] == 1, share / ps, (1 - share) / (1 - ps))


def _glm(pooled: pd.DataFrame, covariates: list[str], **kwargs) -> object:
    return sm.GLM(
        pooled["ich"],
        sm.add_constant(pooled[covariates]),
        family=sm.families.Poisson(),
        offset=np.log(pooled["followup"]),
        **kwargs,
    ).fit(cov_type="HC0")


def test_weighted_and_robust_logistic_regression_match_statsmodels(boards):
    """weights= and robust=True on logit (issue 26): the IPTW odds ratio of any haemorrhage with
    HC0 errors (statsmodels' GLM with var_weights), and an unweighted fit with robust errors."""
    frames = {name: frame.assign(any_ich=(frame["ich"] > 0).astype(int)) for name, frame in boards.items()}
    cell = (
        "w = smpc.stats.propensity_weights(cohort[['age', 'prior_stroke']], cohort['doac'])\n"
        "iptw = smpc.stats.logit(cohort[['doac']], cohort['any_ich'], weights=w, robust=True)\n"
        "adjusted = smpc.stats.logit(cohort[['age', 'doac']], cohort['any_ich'], robust=True)"
    )
    ranges = {**RANGES, "any_ich": (0, 1)}
    out = simulate(cell, _inputs(frames), "iptw adjusted", ranges=ranges, policies={k: {} for k in frames}, timeout=280)
    pooled = pd.concat(list(frames.values()), ignore_index=True)

    def glm(covariates: list[str], **kwargs) -> object:
        family = sm.families.Binomial()
        return sm.GLM(pooled["any_ich"], sm.add_constant(pooled[covariates]), family=family, **kwargs).fit(
            cov_type="HC0"
        )

    for fit, ref in (
        (out["iptw"], glm(["doac"], var_weights=_reference_weights(pooled))),
        (out["adjusted"], glm(["age", "doac"])),
    ):
        assert np.abs((np.asarray(fit.coef) - ref.params.to_numpy()) / ref.bse.to_numpy()).max() < 0.05
        assert np.asarray(fit.se) == pytest.approx(ref.bse.to_numpy(), rel=0.05)
    naive = sm.Logit(pooled["any_ich"], sm.add_constant(pooled[["age", "doac"]])).fit(disp=0)
    assert np.abs(naive.bse.to_numpy() / glm(["age", "doac"]).bse.to_numpy() - 1).max() > 0.005  # (HC0 differs)
    summary = out["iptw"].summary()
    assert "Weighted logistic regression" in summary and "robust (HC0) standard errors" in summary


def test_weighted_least_squares_matches_statsmodels_wls(boards):
    """weights= on ols (issue 26): IPTW-weighted least squares of the follow-up time on the
    treatment and age, against statsmodels' WLS (coefficients, standard errors, scale)."""
    cell = (
        "w = smpc.stats.propensity_weights(cohort[['age', 'prior_stroke']], cohort['doac'])\n"
        "wls = smpc.stats.ols(cohort[['doac', 'age']], cohort['followup'], weights=w)\n"
        "plain = smpc.stats.ols(cohort[['doac', 'age']], cohort['followup'])"
    )
    out = simulate(cell, _inputs(boards), "wls plain", ranges=RANGES, policies={k: {} for k in boards}, timeout=280)
    pooled = pd.concat(list(boards.values()), ignore_index=True)
    design = sm.add_constant(pooled[["doac", "age"]])
    for fit, ref in (
        (out["wls"], sm.WLS(pooled["followup"], design, weights=_reference_weights(pooled)).fit()),
        (out["plain"], sm.OLS(pooled["followup"], design).fit()),
    ):
        assert np.abs((np.asarray(fit.coef) - ref.params.to_numpy()) / ref.bse.to_numpy()).max() < 0.05
        assert np.asarray(fit.se) == pytest.approx(ref.bse.to_numpy(), rel=0.05)
        assert float(fit.sigma2) == pytest.approx(ref.scale, rel=0.05)
    assert "Weighted least squares" in out["wls"].summary() and "OLS regression" in out["plain"].summary()
    # the weights matter here (confounding by indication): WLS and OLS differ
    assert abs(float(np.asarray(out["wls"].coef)[1]) - float(np.asarray(out["plain"].coef)[1])) > 1e-3


def test_iptw_rate_ratio_with_robust_errors_matches_statsmodels_under_the_default_policies(boards):
    cell = (
        "w = smpc.stats.propensity_weights(cohort[['age', 'prior_stroke']], cohort['doac'])\n"
        "iptw = smpc.stats.poisson(cohort[['doac']], cohort['ich'], cohort['followup'], weights=w, robust=True)\n"
        "adjusted = smpc.stats.poisson(cohort[['age', 'doac']], cohort['ich'], cohort['followup'], robust=True)"
    )
    out = simulate(cell, _inputs(boards), "iptw adjusted", ranges=RANGES, policies={k: {} for k in boards}, timeout=280)
    pooled = pd.concat(list(boards.values()), ignore_index=True)
    ref = _glm(pooled, ["doac"], var_weights=_reference_weights(pooled))
    iptw = out["iptw"]
    assert np.abs((np.asarray(iptw.coef) - ref.params.to_numpy()) / ref.bse.to_numpy()).max() < 0.05
    assert np.asarray(iptw.se) == pytest.approx(ref.bse.to_numpy(), rel=0.05)
    crude = _glm(pooled, ["doac"])
    assert abs(crude.params["doac"] - ref.params["doac"]) > 0.1 * ref.bse["doac"]  # (the weights matter)
    summary = iptw.summary()
    assert "Weighted Poisson regression" in summary and "robust (HC0) standard errors" in summary
    ref = _glm(pooled, ["age", "doac"])
    adjusted = out["adjusted"]
    assert np.abs((np.asarray(adjusted.coef) - ref.params.to_numpy()) / ref.bse.to_numpy()).max() < 0.02
    assert np.asarray(adjusted.se) == pytest.approx(ref.bse.to_numpy(), rel=0.02)


@pytest.mark.parametrize(
    "weights",
    [
        "1 + 1000 * (cohort['age'] > 94)",  # a weight that singles out the oldest patient
        "smpc.stats.propensity_weights(cohort[['age']], cohort['doac']) * 2",  # changed weights
        "cohort['age'] * 1.0",  # a column the cell derived
    ],
    ids=["crafted", "changed", "derived"],
)
def test_weights_a_cell_computed_are_refused_before_anything_is_sent(boards, weights):
    cell = f"fit = smpc.stats.poisson(cohort[['doac']], cohort['ich'], cohort['followup'], weights={weights})"
    small = {name: frame.iloc[:40] for name, frame in boards.items()}
    with pytest.raises(SecretValueError, match="weights= takes smpc.stats.propensity_weights"):
        simulate(cell, _inputs(small), "fit", ranges=RANGES, timeout=120)


@pytest.mark.parametrize(
    "use",
    [
        "fit = smpc.stats.poisson(cohort[['followup']], cohort['ich'] + 1, cohort['followup'], weights=w)",
        "fit = (w * cohort['ich']).sum()",
    ],
    ids=["weighted fit", "weighted sum"],
)
def test_a_treatment_of_one_patient_is_withheld(boards, use):
    """The treatment holds for the one patient over 95 among the 40 over 92: unstabilized, that
    patient weighs about 40 times any other, so a weighted fit or sum would read their count."""
    frames = {name: frame.copy() for name, frame in boards.items()}
    frames["north"].loc[0, ["age", "ich", "followup"]] = [96, 2, 2.5]
    assert (pd.concat(list(frames.values()))["age"] > 95.5).sum() == 1
    cell = (
        "w = smpc.stats.propensity_weights(cohort[['followup']], cohort['age'] > 95.5, stabilized=False, "
        "iterations=25, where=cohort['age'] > 92.5)\n" + use
    )
    with pytest.raises(DisclosureError, match="min_count|min_rows"):
        simulate(cell, _inputs(frames), "fit", ranges=RANGES, policies={k: {} for k in frames}, timeout=200)


def test_robust_errors_of_weights_beyond_their_bounds_are_refused(boards):
    """The sandwich's bounds follow the weights' declared bound: beyond 128 the errors would lose
    their precision (a survey weight declared up to 10^5 gave 0), so the cell is refused."""
    small = {name: frame.iloc[:40].assign(sw=1000.0) for name, frame in boards.items()}
    cells = [
        "w = smpc.stats.propensity_weights(cohort[['age']], cohort['doac'], trim=1e-4)\n"
        "fit = smpc.stats.poisson(cohort[['doac']], cohort['ich'], cohort['followup'], weights=w, robust=True)",
        "fit = smpc.stats.poisson(cohort[['doac']], cohort['ich'], cohort['followup'], weights=cohort['sw'], robust=True)",
    ]
    for cell in cells:
        with pytest.raises(SecretValueError, match="robust standard errors are computed for weights up to 128"):
            simulate(cell, _inputs(small), "fit", ranges={**RANGES, "sw": (0, 1e5)}, timeout=120)


def test_the_weights_themselves_are_row_level_and_withheld(boards):
    cell = "w = smpc.stats.propensity_weights(cohort[['age']], cohort['doac'])"
    with pytest.raises(DisclosureError, match="row_level"):
        simulate(cell, _inputs(boards), "w", ranges=RANGES, policies={k: {} for k in boards}, timeout=200)


def test_a_near_violation_of_positivity_stops_the_cell_naming_trim(boards):
    """Nearly everyone under 50 is treated: their propensity is above 0.99, an untreated one's
    weight would be over 100."""
    sites = (("north", 4, 300), ("south", 5, 200))
    skewed = {name: _board(seed, n, young_almost_always_treated=True) for name, seed, n in sites}
    cell = "w = smpc.stats.propensity_weights(cohort[['age']], cohort['doac'])\ns = (w * 1).sum()"
    with pytest.raises(NumericalRangeError, match="positivity.*trim=0.01"):
        simulate(cell, _inputs(skewed), "s", ranges=RANGES, timeout=200)
    trimmed = cell.replace("cohort['doac'])", "cohort['doac'], trim=0.05)")
    total = float(simulate(trimmed, _inputs(skewed), "s", ranges=RANGES, timeout=200)["s"])
    assert 0.5 * 500 < total < 2 * 500  # stabilized weights sum to about the rows
