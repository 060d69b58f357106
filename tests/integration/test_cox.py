"""Cox proportional hazards regression (the Box 1 study's adjusted hazard ratio) with real party
processes, against lifelines' CoxPHFitter (Efron's ties) and statsmodels' PHReg (Breslow's),
on the data sets those packages ship, split unevenly across three sites."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.datasets import load_lung, load_rossi
from statsmodels.duration.hazard_regression import PHReg

from smpc_magic import simulate
from smpc_magic.errors import DisclosureError, NumericalRangeError, SecretValueError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

ROSSI_RANGES = {"week": (1, 52), "arrest": (0, 1), "fin": (0, 1), "age": (17, 44), "prio": (0, 18)}
COVARIATES = ["fin", "age", "prio"]


def _sites(frame: pd.DataFrame, cuts: tuple[int, int]) -> dict[str, dict[str, pd.DataFrame]]:
    a, b = cuts
    parts = {"north": frame.iloc[:a], "south": frame.iloc[a:b], "west": frame.iloc[b:]}
    return {name: {"cohort": part.reset_index(drop=True)} for name, part in parts.items()}


@pytest.fixture(scope="module")
def rossi() -> pd.DataFrame:
    return load_rossi()[["week", "arrest", *COVARIATES]]


def _lifelines(frame: pd.DataFrame, duration: str, event: str) -> CoxPHFitter:
    return CoxPHFitter().fit(frame, duration, event)


def test_hazard_ratios_match_lifelines_under_the_default_policies_and_in_a_subset(rossi):
    cell = (
        "fit = smpc.stats.coxph(cohort[['fin', 'age', 'prio']], cohort['week'], cohort['arrest'])\n"
        "young = smpc.stats.coxph(cohort[['fin', 'prio']], cohort['week'], cohort['arrest'], where=cohort['age'] < 21)"
    )
    sites = _sites(rossi, (250, 300))
    out = simulate(cell, sites, "fit young", ranges=ROSSI_RANGES, policies={k: {} for k in sites}, timeout=280)
    ref = _lifelines(rossi, "week", "arrest")
    fit = out["fit"]
    params, bse = ref.params_.to_numpy(), ref.standard_errors_.to_numpy()
    assert np.abs((np.asarray(fit.coef) - params) / bse).max() < 0.02
    assert np.asarray(fit.se) == pytest.approx(bse, rel=0.02)
    assert fit.hazard_ratios == pytest.approx(np.exp(params), rel=0.01)
    assert fit.confidence_intervals() == pytest.approx(ref.confidence_intervals_.to_numpy(), abs=0.02 * bse.max())
    assert int(round(float(fit.events))) == int(rossi["arrest"].sum()) and list(fit.names) == COVARIATES
    assert "hazard ratios" in fit.summary() and "efron ties" in fit.summary() and "<th>prio</th>" in fit._repr_html_()
    subset = rossi[rossi["age"] < 21]
    ref_young = _lifelines(subset[["week", "arrest", "fin", "prio"]], "week", "arrest")
    young = out["young"]
    assert (
        np.abs((np.asarray(young.coef) - ref_young.params_.to_numpy()) / ref_young.standard_errors_.to_numpy()).max()
        < 0.02
    )
    assert np.asarray(young.se) == pytest.approx(ref_young.standard_errors_.to_numpy(), rel=0.02)
    assert int(round(float(young.nobs))) == len(subset)


def test_breslow_ties_and_strata_on_real_valued_times_match_statsmodels():
    """Follow-up in years (real numbers) with tied days: Breslow's partial likelihood as
    statsmodels' PHReg computes it, and stratified by sex."""
    lung = load_lung().rename(columns={"ph.ecog": "ecog"})[["time", "status", "age", "sex", "ecog"]]
    lung = lung.dropna().reset_index(drop=True)
    lung["years"] = lung["time"] / 365.25
    assert lung["time"].duplicated().any()  # tied event times
    ranges = {"years": (0.0, 3.0), "status": (0, 1), "age": (39, 82), "sex": (1, 2), "ecog": (0, 3)}
    cell = (
        "fit = smpc.stats.coxph(cohort[['age', 'sex', 'ecog']], cohort['years'], cohort['status'], ties='breslow')\n"
        "by_sex = smpc.stats.coxph(cohort[['age', 'ecog']], cohort['years'], cohort['status'], ties='breslow', "
        "strata=cohort['sex'])"
    )
    out = simulate(cell, _sites(lung, (120, 150)), "fit by_sex", ranges=ranges, timeout=250)
    ref = PHReg(lung["years"], lung[["age", "sex", "ecog"]], status=lung["status"], ties="breslow").fit()
    fit = out["fit"]
    assert np.abs((np.asarray(fit.coef) - ref.params) / ref.bse).max() < 0.02
    assert np.asarray(fit.se) == pytest.approx(ref.bse, rel=0.02)
    assert "breslow ties" in fit.summary()
    # a baseline hazard per sex: risk sets within each stratum
    ref = PHReg(lung["years"], lung[["age", "ecog"]], status=lung["status"], ties="breslow", strata=lung["sex"]).fit()
    by_sex = out["by_sex"]
    assert np.abs((np.asarray(by_sex.coef) - ref.params) / ref.bse).max() < 0.02
    assert np.asarray(by_sex.se) == pytest.approx(ref.bse, rel=0.02)
    unstratified = PHReg(lung["years"], lung[["age", "ecog"]], status=lung["status"], ties="breslow").fit()
    assert np.abs((unstratified.params - ref.params) / ref.bse).max() > 0.02  # (the strata change the fit)


def test_on_a_public_time_grid_the_fit_is_that_of_the_grouped_times(rossi):
    """grid=: a cut at every week gives the exact fit (each interval holds one week); four-week
    intervals give the fit of the times grouped into them (lifelines with Efron's ties,
    statsmodels' PHReg with Breslow's), without a sort."""
    fit = "smpc.stats.coxph(cohort[['fin', 'age', 'prio']], cohort['week'], cohort['arrest'], grid="
    sites = _sites(rossi, (300, 350))
    out = {  # (two grids on one time variable: two cells, test_time_points.py says why)
        name: simulate(
            f"{name} = {fit}{grid})", sites, name, ranges=ROSSI_RANGES, policies={k: {} for k in sites}, timeout=280
        )[name]
        for name, grid in (("weekly", "list(range(1, 52))"), ("monthly", "list(range(4, 52, 4)), ties='breslow'"))
    }
    ref = _lifelines(rossi, "week", "arrest")
    params, bse = ref.params_.to_numpy(), ref.standard_errors_.to_numpy()
    assert np.abs((np.asarray(out["weekly"].coef) - params) / bse).max() < 0.02
    assert np.asarray(out["weekly"].se) == pytest.approx(bse, rel=0.02)
    grouped = rossi.assign(week=np.searchsorted(np.arange(4, 52, 4), rossi["week"], side="left"))
    ref = PHReg(grouped["week"], grouped[COVARIATES], status=grouped["arrest"], ties="breslow").fit()
    monthly = out["monthly"]
    assert np.abs((np.asarray(monthly.coef) - ref.params) / ref.bse).max() < 0.02
    assert np.asarray(monthly.se) == pytest.approx(ref.bse, rel=0.02)
    assert np.abs((ref.params - params) / bse).max() > 0.02  # (grouping the times changes the fit)
    assert "times grouped into the 13 intervals of a grid" in monthly.summary()
    assert list(monthly.grid) == list(range(4, 52, 4)) and len(out["weekly"].grid) == 51


def _tenths(seed: int, n: int) -> pd.DataFrame:
    """Follow-up in tenths of a year (0.1 to 5.0: ties, and times equal to cut points) and a covariate."""
    rng = np.random.default_rng(seed)  # (test data only)
    x = rng.uniform(0, 10, n)
    time = np.round(np.minimum(rng.exponential(3 / np.exp(0.15 * x)), 5.0).clip(0.1, 5.0), 1)
    return pd.DataFrame({"years": time, "event": (time < 5.0).astype(int) * (rng.random(n) < 0.8), "x": x})


def test_a_grid_at_the_times_own_step_is_the_exact_fit_and_a_cut_that_leaves_a_patient_beyond_it_is_withheld():
    """Cut points equal to times (0.1, 0.2, ...: not exact in binary) compare as the times were
    encoded, so a cut at every tenth gives the exact fit (a red team found times rounded above
    their cut, moving 113 of 300 rows a step); the rows at risk in each interval are counts, so a
    cut with one patient beyond it is withheld (with a second grid, the two fits told that
    patient's event and covariate)."""
    frames = {name: _tenths(seed, n) for name, seed, n in (("north", 1, 60), ("south", 2, 50), ("west", 3, 40))}
    sites = {name: {"cohort": frame} for name, frame in frames.items()}
    ranges = {"years": (0.05, 6), "event": (0, 1), "x": (0, 10)}
    policies = {k: {} for k in sites}
    cell = (
        "fit = smpc.stats.coxph(cohort[['x']], cohort['years'], cohort['event'], grid=[k / 10 for k in range(1, 50)])"
    )
    out = simulate(cell, sites, "fit", ranges=ranges, policies=policies, timeout=280)
    pooled = pd.concat(list(frames.values()), ignore_index=True)
    ref = _lifelines(pooled, "years", "event")
    bse = ref.standard_errors_.to_numpy()
    assert np.abs((np.asarray(out["fit"].coef) - ref.params_.to_numpy()) / bse).max() < 0.02
    assert np.asarray(out["fit"].se) == pytest.approx(bse, rel=0.02)
    alone = {**frames, "west": frames["west"].assign(years=lambda f: f["years"].where(f.index > 0, 5.5))}
    beyond = "fit = smpc.stats.coxph(cohort[['x']], cohort['years'], cohort['event'], grid=[5.2], ties='breslow')"
    with pytest.raises(DisclosureError, match="min_count"):
        simulate(beyond, {k: {"cohort": f} for k, f in alone.items()}, "fit", ranges=ranges, policies=policies)


@pytest.mark.parametrize(
    "cell",
    [
        # over 40: 14 people, 1 arrest: the events are a count (min_count 3); on a time grid, whose
        # rules are the exact fit's
        "fit = smpc.stats.coxph(cohort[['prio']], cohort['week'], cohort['arrest'], where=cohort['age'] > 40, "
        "grid=[13, 26, 39])",
        # a covariate that singles out the 2 with most priors: its coefficient tells when they were arrested
        "fit = smpc.stats.coxph([cohort['age'], cohort['prio'] > 15], cohort['week'], cohort['arrest'])",
        # strata of one row each but for the 3 with most priors: the fit would be theirs alone
        "s = (cohort['prio'] < 13) * ((cohort['week'] * 45 + cohort['age']) * 2 + cohort['fin'] + 1)\n"
        "fit = smpc.stats.coxph(cohort[['age']], cohort['week'], cohort['arrest'], strata=s)",
        # a stratum of the 2 with most priors drops them from every risk set: the difference
        # between the two fits tells their events
        "full = smpc.stats.coxph(cohort[['age']], cohort['week'], cohort['arrest'])\n"
        "fit = smpc.stats.coxph(cohort[['age']], cohort['week'], cohort['arrest'], strata=(cohort['prio'] > 15) * 1)",
    ],
    ids=["subset", "singling-out covariate", "singleton strata", "a small stratum beside the full fit"],
)
def test_a_fit_on_too_few_rows_or_events_is_withheld(rossi, cell):
    """Under the default policies (min_count 3, min_rows 3) nothing of such a fit is released."""
    sites = _sites(rossi, (250, 300))
    reveal = "full fit" if "full" in cell else "fit"
    with pytest.raises(DisclosureError, match="min_count|min_rows"):
        simulate(cell, sites, reveal, ranges=ROSSI_RANGES, policies={k: {} for k in sites}, timeout=200)


def test_bad_input_is_refused_naming_the_cause(rossi):
    small = rossi.iloc[:60]
    sites = _sites(small, (30, 45))
    with pytest.raises(SecretValueError, match="ties= is 'efron' or 'breslow'"):
        simulate(
            "f = smpc.stats.coxph(cohort[['prio']], cohort['week'], cohort['arrest'], ties='exact')",
            sites,
            "f",
            ranges=ROSSI_RANGES,
            timeout=60,
        )
    with pytest.raises(SecretValueError, match="event is 1 for an event and 0 for a censored time"):
        simulate(
            "f = smpc.stats.coxph(cohort[['fin']], cohort['week'], cohort['prio'])",
            sites,
            "f",
            ranges=ROSSI_RANGES,
            timeout=60,
        )
    refused = {
        # the sort key would swamp the covariates' precision (or not fit the ring)
        "strata=cohort['age'] * 10**9": "too large to sort by",
        # times closer than the fixed-point step would merge into ties
        "time=cohort['week'] * 1e-6": "spans only .* fixed-point steps",
        # an event is a whole 0/1 number: half an event would weigh the fit silently
        "event=cohort['arrest'] * 0.5": "whole-number 0/1 column",
        "iterations=0": "at least 1",
        # a grid's cut points are public, increasing numbers
        "grid=[10, 5]": "increasing order",
        "grid=cohort['week']": "public cut points",
        "grid=[10], strata=cohort['fin']": "strata= with grid= is not available",
        "grid=[10, 60]": "outside time's declared range",
    }
    for argument, message in refused.items():
        name = argument.split("=", 1)[0]
        args = {"time": "cohort['week']", "event": "cohort['arrest']", name: argument.split("=", 1)[1]}
        extra = f", {argument}" if name in ("strata", "iterations", "grid") else ""
        cell = f"f = smpc.stats.coxph(cohort[['prio']], {args['time']}, {args['event']}{extra})"
        with pytest.raises(SecretValueError, match=message):
            simulate(cell, sites, "f", ranges=ROSSI_RANGES, timeout=60)
    censored = small.iloc[:16].assign(arrest=0)
    with pytest.raises(NumericalRangeError, match="there are no events"):
        simulate(
            "f = smpc.stats.coxph(cohort[['prio']], cohort['week'], cohort['arrest'], iterations=2)",
            _sites(censored, (8, 12)),
            "f",
            ranges=ROSSI_RANGES,
            timeout=120,
        )


def test_under_shamir_sharing(rossi):
    """The same fit under Shamir's protocol (3 sites), on a small cohort."""
    small = rossi.iloc[:32]
    cell = "fit = smpc.stats.coxph(cohort[['age', 'prio']], cohort['week'], cohort['arrest'])"
    out = simulate(cell, _sites(small, (14, 22)), "fit", ranges=ROSSI_RANGES, timeout=280, protocol="shamir")
    ref = _lifelines(small[["week", "arrest", "age", "prio"]], "week", "arrest")
    bse = ref.standard_errors_.to_numpy()
    assert np.abs((np.asarray(out["fit"].coef) - ref.params_.to_numpy()) / bse).max() < 0.02
    assert np.asarray(out["fit"].se) == pytest.approx(bse, rel=0.02)
