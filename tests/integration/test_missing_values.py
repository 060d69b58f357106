"""Missing values with real party processes: statistics leave them out as pandas (skipna) and
statsmodels (missing="drop") do, say how many rows they used, and anything that would count a
missing value as 0 is refused before a message is sent."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from smpc_magic import simulate
from smpc_magic.errors import MissingValuesError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SCHEMA = """
[study]
name = "cohort"

[[variable]]
name = "age"
kind = "integer"
min = 18
max = 100

[[variable]]
name = "sex"
kind = "categorical"
levels = ["female", "male"]

[[variable]]
name = "bmi"
kind = "continuous"
min = 10
max = 60
missing = true

[[variable]]
name = "sbp"
kind = "continuous"
min = 70
max = 220
missing = true

[[variable]]
name = "stroke"
kind = "binary"

[[variable]]
name = "followup"
kind = "continuous"
min = 0
max = 20
"""


def _site(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)  # (test data only)
    age = rng.integers(30, 90, n)
    sex = rng.choice(["female", "male"], n)
    bmi = np.round(rng.normal(27 + 0.04 * (age - 60), 4, n).clip(15, 55), 1)
    sbp = np.round((100 + 0.6 * age + 0.9 * bmi + rng.normal(0, 9, n)).clip(80, 210), 0)
    risk = 1 / (1 + np.exp(-(-9 + 0.07 * age + 0.1 * bmi)))
    stroke = (rng.random(n) < risk).astype(int)
    frame = pd.DataFrame(
        {"age": age, "sex": sex, "bmi": bmi, "sbp": sbp, "stroke": stroke, "followup": rng.uniform(0.5, 10, n)}
    )
    # missing values, more often in the old (not completely at random: dropping them matters)
    frame.loc[rng.random(n) < 0.04 + 0.002 * (age - 30), "bmi"] = np.nan
    frame.loc[rng.random(n) < 0.05, "sbp"] = np.nan
    return frame


@pytest.fixture(scope="module")
def sites():
    return {"a": _site(1, 160), "b": _site(2, 120), "c": _site(3, 140)}


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    path = tmp_path_factory.mktemp("schema") / "cohort.toml"
    path.write_text(SCHEMA)
    return str(path)


@pytest.fixture(scope="module")
def pooled(sites):
    return pd.concat(list(sites.values()), ignore_index=True)


@pytest.fixture(scope="module")
def released(sites, schema):
    cell = (
        "m = smpc.stats.mean(cohort['bmi'])\n"
        "sd = smpc.stats.std(cohort[['age', 'bmi', 'sbp']])\n"
        "d = smpc.stats.describe(cohort[['age', 'bmi', 'sbp']])\n"
        "fit = smpc.stats.ols(cohort[['age', 'bmi']], cohort['sbp'])\n"
        "lfit = smpc.stats.logit(cohort[['age', 'bmi']], cohort['stroke'], iterations=12)\n"
        "g = smpc.stats.group_mean(cohort['bmi'], cohort.categorical('sex'))\n"
        "c = smpc.stats.corr(cohort[['age', 'bmi', 'sbp']])\n"
        "ob = cohort[cohort['bmi'] > 30]\n"  # a secret filter: missing BMI is not above 30 either
        "r = smpc.stats.incidence_rate(ob['stroke'], ob['followup'], per=100)\n"
        "km = smpc.stats.kaplan_meier(ob['followup'], ob['stroke'], [2.0, 5.0])\n"
        "lr = smpc.stats.logrank(cohort['followup'], cohort['stroke'], cohort['sbp'] > 140)\n"
        "t = smpc.stats.crosstab(ob.categorical('sex'), ob['stroke'])\n"
        "med = smpc.stats.median(cohort['bmi'])\n"
        "qs = smpc.stats.quantile(cohort[['age', 'bmi']], [0.25, 0.5, 0.75], where=cohort['sex=female'])\n"
        "nb = smpc.stats.gaussian_nb(ob[['age', 'sbp']], ob['stroke'])\n"  # a filtered frame, sbp may be missing
        "cnb = smpc.stats.categorical_nb([ob.categorical('sex')], ob['stroke'])\n"
    )
    inputs = {name: {"cohort": frame} for name, frame in sites.items()}
    return simulate(cell, inputs, "m sd d fit lfit g c r km lr t med qs nb cnb", schema=schema, timeout=180)


def test_means_and_spreads_use_each_columns_observed_values_as_pandas(released, pooled):
    assert float(released["m"]) == pytest.approx(pooled["bmi"].mean(), abs=1e-3)
    expected = pooled[["age", "bmi", "sbp"]].std().to_numpy()
    assert np.asarray(released["sd"]) == pytest.approx(expected, rel=2e-3)


def test_describe_counts_observed_rows_and_its_extremes_ignore_missing_entries(released, pooled):
    d = released["d"]
    frame = pooled[["age", "bmi", "sbp"]]
    assert np.asarray(d.count).tolist() == frame.count().tolist()
    assert np.asarray(d.mean) == pytest.approx(frame.mean().to_numpy(), abs=2e-3)
    assert np.asarray(d.std) == pytest.approx(frame.std().to_numpy(), rel=2e-3)
    assert np.asarray(d.min) == pytest.approx(frame.min().to_numpy(), abs=1e-3)  # not 0 for bmi
    assert np.asarray(d.max) == pytest.approx(frame.max().to_numpy(), abs=1e-3)
    bmi_row = next(line.split() for line in d.summary().splitlines() if line.startswith("bmi"))
    assert bmi_row[1] == str(int(frame["bmi"].count()))  # the count column: observed rows
    assert f"<td>{int(frame['bmi'].count())}</td>" in d._repr_html_()


def test_ols_is_the_complete_case_fit_as_statsmodels_missing_drop(released, pooled):
    fit = released["fit"]
    ref = sm.OLS(pooled["sbp"], sm.add_constant(pooled[["age", "bmi"]]), missing="drop").fit()
    assert int(round(float(fit.nobs))) == int(ref.nobs) < len(pooled)
    assert np.asarray(fit.coef) == pytest.approx(ref.params.to_numpy(), abs=0.02 * ref.bse.to_numpy().max())
    assert np.asarray(fit.se) == pytest.approx(ref.bse.to_numpy(), rel=0.02)
    assert float(fit.sigma2) == pytest.approx(ref.scale, rel=0.01)


def test_logit_is_the_complete_case_fit(released, pooled):
    fit = released["lfit"]
    ref = sm.Logit(pooled["stroke"], sm.add_constant(pooled[["age", "bmi"]]), missing="drop").fit(disp=0)
    assert int(round(float(fit.nobs))) == int(ref.nobs)
    assert np.asarray(fit.coef) == pytest.approx(ref.params.to_numpy(), abs=0.05 * ref.bse.to_numpy().max())
    assert np.asarray(fit.se) == pytest.approx(ref.bse.to_numpy(), rel=0.03)


def test_group_means_and_correlations_leave_missing_rows_out(released, pooled):
    g = released["g"]
    ref = pooled.groupby("sex")["bmi"].agg(["mean", "count"])
    assert np.asarray(g.mean).reshape(-1) == pytest.approx(ref["mean"].to_numpy(), abs=2e-3)
    assert np.asarray(g.count).reshape(-1).tolist() == ref["count"].tolist()
    # the table names the variables (it said "level" and "x mean")
    header = g.table().header
    assert g.table().title.startswith("Group means by sex") and header[:3] == ["sex", "count", "bmi mean"]
    complete = pooled[["age", "bmi", "sbp"]].dropna()
    assert np.asarray(released["c"]) == pytest.approx(complete.corr().to_numpy(), abs=2e-3)


def test_rates_survival_and_tables_of_a_filtered_frame_use_its_rows_only(released, pooled):
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import logrank_test

    ob = pooled[pooled["bmi"] > 30]
    assert released["r"].rate == pytest.approx(100 * ob["stroke"].sum() / ob["followup"].sum(), rel=1e-3)
    kmf = KaplanMeierFitter().fit(ob["followup"], ob["stroke"])
    assert np.asarray(released["km"].survival) == pytest.approx(kmf.survival_function_at_times([2.0, 5.0]), abs=1e-3)
    assert int(round(float(released["km"].nobs))) == len(ob)
    seen = pooled.dropna(subset=["sbp"])  # a row whose blood pressure is missing is in neither group
    high = seen["sbp"] > 140
    reference = logrank_test(
        seen["followup"][high], seen["followup"][~high], seen["stroke"][high], seen["stroke"][~high]
    ).test_statistic
    assert float(released["lr"].chi2) == pytest.approx(reference, rel=1e-3)
    table = pd.crosstab(ob["sex"], ob["stroke"]).to_numpy()
    assert np.asarray(released["t"].counts).tolist() == table.tolist()
    from scipy.stats import chi2_contingency

    assert float(released["t"].chi2) == pytest.approx(chi2_contingency(table, correction=False)[0], abs=1e-3)
    # a categorical variable's levels and both variables' names (ob is a filtered frame)
    html = released["t"]._repr_html_()
    assert "Cross-tabulation of sex by stroke" in html and "<th>sex \\ stroke</th>" in html
    assert all(f"<th>{level}</th>" in html for level in ob["sex"].dropna().unique())


def test_quantiles_are_numpys_over_the_rows_kept(released, pooled):
    assert float(released["med"]) == pytest.approx(pooled["bmi"].median(), abs=1e-3)  # pandas skips missing
    women = pooled[pooled["sex"] == "female"]
    expected = np.stack([women[c].quantile([0.25, 0.5, 0.75]).to_numpy() for c in ("age", "bmi")])
    assert np.asarray(released["qs"]) == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize(
    "cell",
    [
        "out = cohort['bmi'].mean()",  # would count missing as 0
        "out = (cohort['bmi'] * 2).mean()",  # derived values carry their missing rows
        "out = cohort[cohort['age'] > 50]['age'].mean()",  # a filtered column: the same
        "out = smpc.stats.ols(cohort[['age', 'bmi']], cohort['stroke'], missing='raise')",  # a study's choice
        "out = smpc.stats.mean(cohort['sbp'], where=cohort['age'] > 50, missing='raise')",
    ],
)
def test_what_would_count_a_missing_value_as_0_is_refused_naming_the_variable(sites, schema, cell):
    inputs = {name: {"cohort": frame} for name, frame in sites.items()}
    with pytest.raises(MissingValuesError) as info:
        simulate(cell, inputs, "out", schema=schema, timeout=60)
    assert "bmi" in str(info.value) or "sbp" in str(info.value)


def test_a_sum_over_the_observed_rows_of_a_variable_is_checked_as_a_subset(schema):
    """A sum of a variable that may be missing is a sum over its observed rows: with one observed
    value it is that patient's value, withheld like any sum over one row."""
    from smpc_magic.errors import DisclosureError

    one = _site(9, 6)
    one["bmi"] = [33.3] + [np.nan] * 5
    none_seen = _site(10, 6)
    none_seen["bmi"] = np.nan
    inputs = {"a": {"cohort": one}, "b": {"cohort": none_seen}}
    for cell in ["s = cohort['bmi'].sum()", "s = (cohort['bmi'] * 2).sum()", "s = np.sum(cohort['bmi'])"]:
        with pytest.raises(DisclosureError):
            simulate(cell, inputs, "s", schema=schema, policies={"a": {}, "b": {}}, timeout=60)


def test_missing_raise_runs_where_every_variable_is_declared_complete(sites, schema, pooled):
    inputs = {name: {"cohort": frame} for name, frame in sites.items()}
    cell = (
        "m = smpc.stats.mean(cohort['age'], missing='raise')\n"
        "f = smpc.stats.mean(cohort['age'], where=cohort['sex=female'], missing='raise')"  # a filter is no missing value
    )
    got = simulate(cell, inputs, "m f", schema=schema, timeout=60)
    assert float(got["m"]) == pytest.approx(pooled["age"].mean(), rel=1e-4)
    assert float(got["f"]) == pytest.approx(pooled.loc[pooled["sex"] == "female", "age"].mean(), rel=1e-4)


def test_naive_bayes_of_a_filtered_frame_is_scikit_learns_on_its_complete_rows(released, pooled):
    """Both naive Bayes models refused a filtered frame or a variable that may be missing; they
    now use the complete cases of the rows kept, as scikit-learn fitted on them."""
    from sklearn.naive_bayes import CategoricalNB, GaussianNB

    ob = pooled[pooled["bmi"] > 30]
    kept = ob.dropna(subset=["sbp"])
    ref = GaussianNB().fit(kept[["age", "sbp"]], kept["stroke"])
    nb = released["nb"]
    assert np.asarray(nb.class_prior) == pytest.approx(ref.class_prior_, abs=1e-3)
    assert np.asarray(nb.theta) == pytest.approx(ref.theta_, abs=0.02)
    assert np.asarray(nb.var) == pytest.approx(ref.var_, rel=5e-3)
    cref = CategoricalNB().fit((ob[["sex"]] == "male").astype(int), ob["stroke"])
    cnb = released["cnb"]
    assert np.asarray(cnb.class_prior) == pytest.approx(np.exp(cref.class_log_prior_), abs=1e-3)
    assert np.asarray(cnb.log_prob) == pytest.approx(cref.feature_log_prob_[0], abs=2e-3)
