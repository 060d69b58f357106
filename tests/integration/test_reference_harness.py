"""Every `smpc.stats` function against its plaintext reference, across data conditions (issue 23).

Each condition is one study of three sites with real party processes: raw scales (ages in years,
costs in pounds, counts), unbalanced sites (300, 12 and 60 rows), an integer-coded group with a
level absent at one site, real-valued follow-up times with ties, and (second condition) missing
values in a cost and a count. Every released number must be within the accuracy README's
statistics table states for it, against numpy, pandas, scipy, statsmodels and lifelines on the
pooled rows. A third condition drops the declared ranges: each statistic is then right or
refused with an error naming the cause (never a silently wrong number).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import logrank_test
from scipy.stats import chi2_contingency

from smpc_magic import simulate
from smpc_magic.errors import PrecisionError, RangeRequiredError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

SCHEMA = """
[study]
name = "harness"

[[variable]]
name = "age"
kind = "integer"
min = 18
max = 100

[[variable]]
name = "cost"
kind = "continuous"
min = 0
max = 60000
missing = {missing}

[[variable]]
name = "visits"
kind = "integer"
min = 0
max = 40
missing = {missing}

[[variable]]
name = "band"
kind = "integer"
min = 0
max = 2

[[variable]]
name = "sex"
kind = "categorical"
levels = ["female", "male"]

[[variable]]
name = "event"
kind = "binary"

[[variable]]
name = "exposed"
kind = "binary"

[[variable]]
name = "time"
kind = "continuous"
min = 0.05
max = 15
"""

GRID = [2.0, 5.0, 10.0]
CELL = (
    "m = smpc.stats.mean(d['cost'])\n"
    "sd = smpc.stats.std(d[['age', 'cost', 'visits']])\n"
    "desc = smpc.stats.describe(d[['age', 'cost', 'visits']])\n"
    "cv = smpc.stats.cov(d[['age', 'cost']])\n"
    "cr = smpc.stats.corr(d[['age', 'cost', 'visits']])\n"
    "g = smpc.stats.group_mean(d['cost'], by=d['band'])\n"
    "q = smpc.stats.quantile(d['age'], [0.25, 0.5, 0.75])\n"
    "t = smpc.stats.crosstab(d.categorical('sex'), d['event'])\n"
    "r = smpc.stats.incidence_rate(d['event'], d['time'], per=1000)\n"
    "rr = smpc.stats.rate_ratio(d['event'], d['time'], d['exposed'])\n"
    "fit = smpc.stats.ols(d[['age', 'visits']], d['cost'])\n"
    "lfit = smpc.stats.logit(d[['age', 'visits']], d['event'], iterations=12)\n"
    "pfit = smpc.stats.poisson(d[['age', 'exposed']], d['event'], d['time'])\n"
    f"km = smpc.stats.kaplan_meier(d['time'], d['event'], {GRID})\n"
    "lr = smpc.stats.logrank(d['time'], d['event'], d['exposed'])\n"
)
NAMES = "m sd desc cv cr g q t r rr fit lfit pfit km lr"


def _site(seed: int, n: int, bands: list[int], missing: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)  # (test data only)
    age = rng.integers(20, 95, n)
    visits = rng.poisson(3 + age / 20, n).clip(0, 40)
    cost = np.round((800 + 45 * age + 210 * visits + rng.gamma(2.0, 900, n)).clip(0, 60000), 2)
    exposed = rng.integers(0, 2, n)
    hazard = 0.02 * np.exp(0.03 * (age - 60) + 0.5 * exposed)
    event_time = rng.exponential(1 / hazard)
    censor = rng.uniform(0.5, 15, n)
    time = np.round(np.minimum(event_time, censor).clip(0.1, 15), 1)  # tenths of a year: ties
    event = (event_time <= censor).astype(int)
    frame = pd.DataFrame(
        {
            "age": age,
            "cost": cost,
            "visits": visits,
            "band": rng.choice(bands, n),
            "sex": rng.choice(["female", "male"], n),
            "event": event,
            "exposed": exposed,
            "time": time,
        }
    )
    if missing:  # more often in the old: dropping them matters
        frame["cost"] = frame["cost"].where(rng.random(n) > 0.03 + 0.002 * (age - 20))
        frame["visits"] = frame["visits"].where(rng.random(n) > 0.06).astype("float")
    return frame


def _sites(missing: bool, sizes: tuple[int, int, int] = (300, 12, 60)) -> dict[str, pd.DataFrame]:
    return {
        "a": _site(11, sizes[0], [0, 1, 2], missing),
        "b": _site(12, sizes[1], [0, 1], missing),  # no band 2 here; a dozen rows
        "c": _site(13, sizes[2], [0, 1, 2], missing),
    }


def _close(got, want, rel, what):
    got, want = np.asarray(got, dtype=float).reshape(-1), np.asarray(want, dtype=float).reshape(-1)
    scale = np.abs(want).max()
    assert np.abs(got - want).max() <= rel * scale, (what, got, want)


def _check_against_references(out: dict, pooled: pd.DataFrame) -> None:
    cols = ["age", "cost", "visits"]
    # moments: within 1e-4 relative (README), per column over its observed values (pandas' skipna)
    _close(out["m"], pooled["cost"].mean(), 1e-4, "mean")
    _close(out["sd"], pooled[cols].std(), 1e-4, "std")
    desc = out["desc"]
    assert np.asarray(desc.count).reshape(-1).tolist() == pooled[cols].count().tolist()
    _close(desc.mean, pooled[cols].mean(), 1e-4, "describe mean")
    _close(desc.std, pooled[cols].std(), 1e-4, "describe std")
    _close(desc.min, pooled[cols].min(), 1e-4, "describe min")
    _close(desc.max, pooled[cols].max(), 1e-4, "describe max")
    complete = pooled.dropna(subset=["age", "cost"])
    _close(out["cv"], complete[["age", "cost"]].cov(), 1e-4, "cov")
    complete3 = pooled.dropna(subset=cols)
    _close(out["cr"], complete3[cols].corr(), 1e-3, "corr")
    groups = pooled.dropna(subset=["cost"]).groupby("band")["cost"].agg(["mean", "std", "count"])
    g = out["g"]
    assert [str(v) for v in g.levels] == ["0", "1", "2"]
    assert np.asarray(g.count).reshape(-1).tolist() == groups["count"].tolist()
    _close(g.mean, groups["mean"], 1e-4, "group mean")
    _close(g.std, groups["std"], 1e-4, "group std")
    # quantiles: numpy's default, within 1e-3
    _close(out["q"], np.quantile(pooled["age"], [0.25, 0.5, 0.75]), 1e-3, "quantile")
    # a table: exact counts, chi-square within 1e-3 of scipy's without continuity correction
    table = pd.crosstab(pooled["sex"], pooled["event"]).to_numpy()
    assert np.asarray(out["t"].counts).tolist() == table.tolist()
    _close(out["t"].chi2, chi2_contingency(table, correction=False)[0], 1e-3, "chi2")
    # rates: within 1e-3 of the same formulas
    events, years = pooled["event"].sum(), pooled["time"].sum()
    _close(out["r"].rate, 1000 * events / years, 1e-3, "rate")
    by = pooled.groupby("exposed")[["event", "time"]].sum()
    ratio = (by.loc[1, "event"] / by.loc[1, "time"]) / (by.loc[0, "event"] / by.loc[0, "time"])
    _close(out["rr"].ratio, ratio, 1e-3, "rate ratio")
    # regressions: coefficients within a stated share of their SEs, SEs within a stated share
    rows = pooled.dropna(subset=["age", "visits", "cost"])
    X = sm.add_constant(rows[["age", "visits"]].astype(float))
    ref = sm.OLS(rows["cost"], X).fit()
    fit = out["fit"]
    assert int(np.asarray(fit.nobs)) == len(rows)
    assert np.all(np.abs(np.asarray(fit.coef) - ref.params.to_numpy()) <= 0.01 * ref.bse.to_numpy())
    _close(fit.se, ref.bse, 1e-2, "ols se")
    complete_events = pooled.dropna(subset=["age", "visits"])
    ref = sm.Logit(complete_events["event"], sm.add_constant(complete_events[["age", "visits"]].astype(float))).fit(
        disp=0
    )
    lfit = out["lfit"]
    assert np.all(np.abs(np.asarray(lfit.coef) - ref.params.to_numpy()) <= 0.05 * ref.bse.to_numpy())
    _close(lfit.se, ref.bse, 0.05, "logit se")
    glm = sm.GLM(
        pooled["event"],
        sm.add_constant(pooled[["age", "exposed"]].astype(float)),
        family=sm.families.Poisson(),
        offset=np.log(pooled["time"]),
    ).fit()
    pfit = out["pfit"]
    assert np.all(np.abs(np.asarray(pfit.coef) - glm.params.to_numpy()) <= 0.02 * glm.bse.to_numpy())
    assert np.all(np.abs(np.asarray(pfit.se) / glm.bse.to_numpy() - 1) <= 0.02)
    # survival: product-limit within 1e-3 of lifelines, log-rank within 1e-3 relative
    kmf = KaplanMeierFitter().fit(pooled["time"], pooled["event"])
    want = kmf.survival_function_at_times(GRID).to_numpy()
    assert np.abs(np.asarray(out["km"].survival).reshape(-1) - want).max() <= 1e-3
    one, zero = pooled[pooled["exposed"] == 1], pooled[pooled["exposed"] == 0]
    chi2 = logrank_test(one["time"], zero["time"], one["event"], zero["event"]).test_statistic
    _close(out["lr"].chi2, chi2, 1e-3, "logrank")


@pytest.mark.parametrize("missing", [False, True], ids=["complete", "missing values"])
def test_every_statistic_is_within_its_stated_accuracy_of_its_reference(missing, tmp_path):
    sites = _sites(missing)
    schema = tmp_path / "study.toml"
    schema.write_text(SCHEMA.format(missing=str(missing).lower()))
    out = simulate(CELL, {s: {"d": f} for s, f in sites.items()}, NAMES, schema=str(schema), timeout=300)
    _check_against_references(out, pd.concat(list(sites.values()), ignore_index=True))


#: The larger set (``--slow``): five times the rows, and the statistics the CI set leaves to
#: their own test files (each there on other data), here under the same conditions.
SLOW_SIZES = (1500, 60, 300)
SLOW_CELL = CELL + (
    "v = smpc.stats.var(d['cost'])\n"
    "md = smpc.stats.median(d['age'])\n"
    "mh = smpc.stats.mantel_haenszel(d['event'], d['time'], d['exposed'], d['band'])\n"
    "cx = smpc.stats.coxph(d[['age', 'visits', 'exposed']], d['time'], d['event'])\n"
    "w = smpc.stats.propensity_weights(d[['age']], d['exposed'])\n"
    "iptw = smpc.stats.poisson(d[['exposed']], d['event'], d['time'], weights=w, robust=True)\n"
)
SLOW_NAMES = NAMES + " v md mh cx iptw"


def _check_the_slow_sets_statistics(out: dict, pooled: pd.DataFrame) -> None:
    _close(out["v"], pooled["cost"].var(), 1e-4, "var")
    _close(out["md"], pooled["age"].median(), 1e-3, "median")
    # Mantel-Haenszel rate ratio over the bands: the textbook formula
    by = pooled.groupby(["band", "exposed"])[["event", "time"]].sum().unstack("exposed")
    total = by["time"][0] + by["time"][1]
    numerator = (by["event"][1] * by["time"][0] / total).sum()
    denominator = (by["event"][0] * by["time"][1] / total).sum()
    _close(out["mh"].ratio, numerator / denominator, 1e-3, "mantel_haenszel")
    # Cox (Efron's ties, lifelines' default) on the complete cases
    rows = pooled.dropna(subset=["age", "visits"])[["age", "visits", "exposed", "time", "event"]]
    ref = CoxPHFitter().fit(rows, "time", "event")
    params, bse = ref.params_.to_numpy(), ref.standard_errors_.to_numpy()
    assert int(np.asarray(out["cx"].nobs)) == len(rows)
    assert np.abs((np.asarray(out["cx"].coef) - params) / bse).max() < 0.02, (out["cx"].coef, params)
    assert np.asarray(out["cx"].se) == pytest.approx(bse, rel=0.02)
    # IPTW: stabilized weights from statsmodels' Logit, a weighted Poisson fit with HC0 errors
    ps = sm.Logit(pooled["exposed"], sm.add_constant(pooled[["age"]].astype(float))).fit(disp=0).predict()
    share = pooled["exposed"].mean()
    weights = np.where(pooled["exposed"] == 1, share / ps, (1 - share) / (1 - ps))
    glm = sm.GLM(
        pooled["event"],
        sm.add_constant(pooled[["exposed"]].astype(float)),
        family=sm.families.Poisson(),
        offset=np.log(pooled["time"]),
        var_weights=weights,
    ).fit(cov_type="HC0")
    iptw = out["iptw"]
    assert np.abs((np.asarray(iptw.coef) - glm.params.to_numpy()) / glm.bse.to_numpy()).max() < 0.05
    assert np.asarray(iptw.se) == pytest.approx(glm.bse.to_numpy(), rel=0.05)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("missing", [False, True], ids=["complete", "missing values"])
def test_the_larger_set_is_within_its_stated_accuracy_of_its_reference(missing, tmp_path):
    sites = _sites(missing, SLOW_SIZES)
    schema = tmp_path / "study.toml"
    schema.write_text(SCHEMA.format(missing=str(missing).lower()))
    inputs = {s: {"d": f} for s, f in sites.items()}
    out = simulate(SLOW_CELL, inputs, SLOW_NAMES, schema=str(schema), timeout=1500)
    pooled = pd.concat(list(sites.values()), ignore_index=True)
    _check_against_references(out, pooled)
    _check_the_slow_sets_statistics(out, pooled)


def _undeclared_references(pooled: pd.DataFrame) -> dict:
    """name: (the field compared, its reference on the pooled rows, relative tolerance)."""
    one, zero = pooled[pooled["exposed"] == 1], pooled[pooled["exposed"] == 0]
    return {
        "mean": (lambda o: o, lambda: pooled["cost"].mean(), 1e-4),
        "std": (lambda o: o, lambda: pooled[["age", "cost"]].std(), 1e-4),
        "describe": (lambda o: o.mean, lambda: pooled[["age", "visits"]].mean(), 1e-4),
        "group_mean": (
            lambda o: o.mean,
            lambda: pooled.groupby("band")["cost"].mean(),
            1e-4,
        ),
        "ols": (
            lambda o: o.coef,
            lambda: sm.OLS(pooled["cost"], sm.add_constant(pooled[["age", "visits"]].astype(float))).fit().params,
            1e-3,
        ),
        "logit": (
            lambda o: o.coef,
            lambda: sm.Logit(pooled["event"], sm.add_constant(pooled[["age"]].astype(float))).fit(disp=0).params,
            1e-2,
        ),
        "incidence_rate": (lambda o: o.rate, lambda: 1000 * pooled["event"].sum() / pooled["time"].sum(), 1e-3),
        "quantile": (lambda o: o, lambda: np.quantile(pooled["age"], [0.5]), 1e-3),
        "kaplan_meier": (
            lambda o: o.survival,
            lambda: KaplanMeierFitter().fit(pooled["time"], pooled["event"]).survival_function_at_times(GRID),
            1e-3,
        ),
        "logrank": (
            lambda o: o.chi2,
            lambda: logrank_test(one["time"], zero["time"], one["event"], zero["event"]).test_statistic,
            1e-3,
        ),
    }


@pytest.mark.parametrize(
    "cell",
    [
        "out = smpc.stats.mean(d['cost'])",
        "out = smpc.stats.std(d[['age', 'cost']])",
        "out = smpc.stats.describe(d[['age', 'visits']])",
        "out = smpc.stats.group_mean(d['cost'], by=d['band'])",
        "out = smpc.stats.ols(d[['age', 'visits']], d['cost'])",
        "out = smpc.stats.logit(d[['age']], d['event'])",
        "out = smpc.stats.incidence_rate(d['event'], d['time'])",
        "out = smpc.stats.quantile(d['age'], [0.5])",
        f"out = smpc.stats.kaplan_meier(d['time'], d['event'], {GRID})",
        "out = smpc.stats.logrank(d['time'], d['event'], d['exposed'])",
    ],
)
def test_without_declared_ranges_each_statistic_is_right_or_refused_naming_the_cause(cell):
    sites = {name: frame.drop(columns="sex") for name, frame in _sites(False).items()}  # (no schema: no text)
    pooled = pd.concat(list(sites.values()), ignore_index=True)
    try:
        out = simulate(cell, {s: {"d": f} for s, f in sites.items()}, "out", timeout=120)["out"]
    except (RangeRequiredError, PrecisionError) as exc:
        message = str(exc)
        assert "declare" in message.lower() and "range" in message.lower(), message
        return
    name = cell.split("smpc.stats.")[1].split("(")[0]
    field, reference, tolerance = _undeclared_references(pooled)[name]
    _close(field(out), reference(), tolerance, name)
