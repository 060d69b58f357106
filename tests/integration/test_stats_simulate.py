"""smpc.stats with real party processes over ZeroMQ: data split across 3 (and 2) sites, pooled
by rows or partitioned by columns (one site holds the covariates, another the outcome), results
released as result objects with summaries, or field by field."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from smpc_magic import simulate
from smpc_magic.errors import CellError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def declared(frame):
    return {c: (float(np.floor(frame[c].min())), float(np.ceil(frame[c].max()))) for c in frame.columns}


@pytest.fixture(scope="module")
def diabetes():
    from sklearn.datasets import load_diabetes

    return load_diabetes(as_frame=True, scaled=False).frame


def sites(frame, count):
    parts = np.array_split(np.arange(len(frame)), count)
    return {f"site{i}": {"cohort": frame.iloc[rows]} for i, rows in enumerate(parts)}


@pytest.mark.parametrize("count, protocol", [(3, "additive"), (2, "additive"), (3, "shamir")])
def test_pooled_ols_releases_a_fit_object_matching_statsmodels(diabetes, count, protocol):
    covariates = [c for c in diabetes.columns if c != "target"]
    cell = f"fit = smpc.stats.ols(cohort[{covariates!r}], cohort['target'])"
    fit = simulate(cell, sites(diabetes, count), "fit", ranges=declared(diabetes), timeout=60, protocol=protocol)["fit"]
    ref = sm.OLS(diabetes["target"], sm.add_constant(diabetes[covariates])).fit()
    assert list(fit.names) == ["const", *covariates] and fit.n == len(diabetes)
    assert np.all(np.abs(fit.coef - ref.params.to_numpy()) < 0.01 * ref.bse.to_numpy())
    assert np.all(np.abs(fit.se / ref.bse.to_numpy() - 1) < 1e-2)
    assert np.allclose(fit.tvalues, ref.tvalues.to_numpy(), rtol=1e-2)
    table = fit.summary()
    assert "OLS regression" in table and "P>|t|" in table and "bmi" in table
    page = fit._repr_html_()  # a notebook shows an HTML table with the covariates' names
    assert "<table" in page and "<th>bmi</th>" in page and "<th>P&gt;|t|</th>" in page


def test_releasing_only_some_fields_of_a_fit(diabetes):
    cell = "fit = smpc.stats.ols(cohort[['age', 'bmi', 'bp']], cohort['target'])\nslopes = fit.coef[1:]"
    out = simulate(cell, sites(diabetes, 3), "fit.coef slopes", ranges=declared(diabetes), timeout=60)
    fit = out["fit"]
    assert len(fit.coef) == 4 and np.allclose(
        out["slopes"], fit.coef[1:], rtol=1e-9
    )  # a field is a secret like any other
    with pytest.raises(AttributeError, match="was not released"):
        _ = fit.se
    with pytest.raises(CellError, match="not a field of a ols result"):
        simulate(cell, sites(diabetes, 3), "fit.cov", ranges=declared(diabetes), timeout=60)


def test_vertically_partitioned_ols_and_logit(diabetes):
    """Site a holds the covariates, site b the outcome, rows already aligned."""
    covariates = ["age", "bmi", "bp", "s5"]
    outcome = diabetes[["target"]].assign(high=(diabetes["target"] > 140).astype(int))
    data = {"a": {"covariates": diabetes[covariates]}, "b": {"outcome": outcome}}
    ranges = {**declared(diabetes[covariates]), **declared(outcome)}
    cell = (
        "fit = smpc.stats.ols(covariates, outcome['target'])\n"
        "odds = smpc.stats.logit(covariates, outcome['high'], iterations=8)"
    )
    out = simulate(cell, data, "fit odds", ranges=ranges, timeout=90)
    ref = sm.OLS(diabetes["target"], sm.add_constant(diabetes[covariates])).fit()
    assert np.all(np.abs(out["fit"].coef - ref.params.to_numpy()) < 0.01 * ref.bse.to_numpy())
    logit = sm.Logit(outcome["high"], sm.add_constant(diabetes[covariates])).fit(disp=0)
    assert np.all(np.abs(out["odds"].coef - logit.params.to_numpy()) < 0.05 * logit.bse.to_numpy())
    assert "Logistic regression" in out["odds"].summary()


@pytest.mark.parametrize("count, protocol", [(3, "additive"), (2, "additive"), (3, "shamir")])
def test_tables_rates_and_survival_across_sites(count, protocol):
    from lifelines import KaplanMeierFitter
    from lifelines.datasets import load_rossi
    from lifelines.statistics import logrank_test
    from scipy.stats import chi2_contingency

    rossi = load_rossi()[["week", "arrest", "fin", "wexp"]].astype(int)
    cell = (
        "km = smpc.stats.kaplan_meier(cohort['week'], cohort['arrest'], [10, 26, 52])\n"
        "test = smpc.stats.logrank(cohort['week'], cohort['arrest'], cohort['fin'])\n"
        "table = smpc.stats.crosstab(cohort['fin'], cohort['arrest'])\n"
        "rate = smpc.stats.incidence_rate(cohort['arrest'], cohort['week'], per=100)"
    )
    ranges = {"week": (1, 52), "arrest": (0, 1), "fin": (0, 1), "wexp": (0, 1)}
    out = simulate(cell, sites(rossi, count), "km test table rate", ranges=ranges, timeout=90, protocol=protocol)
    kmf = KaplanMeierFitter().fit(rossi["week"], rossi["arrest"])
    assert np.abs(out["km"].survival - kmf.survival_function_at_times([10, 26, 52]).to_numpy()).max() < 1e-3
    g = rossi["fin"] == 1
    reference = logrank_test(rossi["week"][g], rossi["week"][~g], rossi["arrest"][g], rossi["arrest"][~g])
    assert abs(out["test"].chi2 - reference.test_statistic) < 1e-2
    counts = pd.crosstab(rossi["fin"], rossi["arrest"]).to_numpy()
    assert out["table"].counts.tolist() == counts.tolist()
    assert out["table"].chi2 == pytest.approx(chi2_contingency(counts, correction=False)[0], rel=1e-3)
    assert out["rate"].rate == pytest.approx(100 * rossi["arrest"].sum() / rossi["week"].sum(), rel=1e-3)
    assert "Kaplan" in out["km"].summary() and "Pearson chi2" in out["table"].summary()
    # the table names its variables (columns of the frame), in text and in HTML
    assert "Cross-tabulation of fin by arrest" in out["table"].summary()
    assert "<th>fin \\ arrest</th><th>0</th><th>1</th>" in out["table"]._repr_html_()
