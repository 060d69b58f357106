"""smpc.stats against the references users compare us to (statsmodels, scikit-learn, lifelines,
scipy) on datasets that ship inside those packages, with in-memory parties (protocol math only;
the same analyses run with real processes in tests/integration/test_stats_simulate.py)."""

import numpy as np
import pytest
import statsmodels.api as sm

from smpc_magic import stats
from smpc_magic.errors import NumericalRangeError
from tests.support.inmemory import InMemoryParties

pytestmark = pytest.mark.timeout(120)


def ranges_of(x):
    """Declared [min, max] per column as a study would (rounded outwards)."""
    return np.floor(x.min(0) * 100) / 100, np.ceil(x.max(0) * 100) / 100


@pytest.fixture(scope="module")
def parties(protocol):
    return InMemoryParties(3)


def test_ols_on_unscaled_diabetes_matches_statsmodels(parties):
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True, scaled=False)
    ref = sm.OLS(y, sm.add_constant(X)).fit()

    def fit(x, target):
        result = stats.ols(x, target)
        return np.concatenate([result.coef, result.se, result.sigma2.reshape(1)])

    out = parties.compute(fit, X, y, ranges=[ranges_of(X), (25, 346)])
    k = X.shape[1] + 1
    assert np.all(np.abs(out[:k] - ref.params) < 0.01 * ref.bse)
    assert np.all(np.abs(out[k : 2 * k] / ref.bse - 1) < 1e-2)
    assert out[-1] == pytest.approx(ref.scale, rel=1e-3)


@pytest.mark.parametrize("n", [100_000, 1_000_000])
def test_ols_at_raw_scales_and_a_million_rows_meets_the_bar(parties, n):
    """Ages in years, costs in pounds, BMI: no rescaling by the analyst."""
    rng = np.random.default_rng(1)
    age = rng.integers(18, 101, n).astype(float)
    cost = np.round(rng.gamma(2.0, 1500.0, n).clip(0, 100_000), 2)
    bmi = rng.normal(27, 5, n).clip(12, 70)
    y = (200 + 3.5 * age + 0.02 * cost - 1.2 * bmi + rng.normal(0, 40, n)).clip(-1000, 5000)
    X = np.column_stack([age, cost, bmi])
    ref = sm.OLS(y, sm.add_constant(X)).fit()

    def fit(x, target):
        result = stats.ols(x, target)
        return np.concatenate([result.coef, result.se])

    out = parties.compute(fit, X, y, ranges=[(np.array([18, 0, 12.0]), np.array([100, 100_000, 70.0])), (-1000, 5000)])
    assert np.all(np.abs(out[:4] - ref.params) < 0.01 * ref.bse)
    assert np.all(np.abs(out[4:] / ref.bse - 1) < 1e-2)


@pytest.mark.parametrize("noise", [1e-4, 1e-3, 1e-2, 3e-2, 0.05, 0.1, 0.3])
def test_near_collinear_covariates_give_the_right_fit_or_a_refusal_never_a_wrong_number(parties, noise):
    """Across the cap on the correlation matrix's conditioning (the default max_condition 512
    falls between noise 0.05 and 0.1 here): either the secure fit matches statsmodels or
    NumericalRangeError, never garbage."""
    rng = np.random.default_rng(2)
    a = rng.normal(0, 1, 400).clip(-4, 4)
    X = np.column_stack([a, a + rng.normal(0, noise, 400)])
    y = a * 2 + rng.normal(0, 1, 400)
    ref = sm.OLS(y, sm.add_constant(X)).fit()
    try:
        out = parties.compute(lambda x, t: stats.ols(x, t).coef, X, y, ranges=[(-5, 5), (-20, 20)])
    except NumericalRangeError as exc:
        assert "collinear" in str(exc) and noise < 0.1
        return
    assert np.all(np.abs(out - ref.params) < 0.01 * ref.bse)
    assert noise >= 0.05


def _breast_cancer():
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    names = ["mean radius", "mean texture", "mean smoothness", "mean concavity", "worst symmetry"]
    X = data.data[:, [list(data.feature_names).index(f) for f in names]]
    return X, data.target


def test_logit_on_breast_cancer_matches_statsmodels(parties):
    X, y = _breast_cancer()
    ref = sm.Logit(y, sm.add_constant(X)).fit(disp=0)

    def fit(x, target):
        result = stats.logit(x, target, iterations=10)
        return np.concatenate([result.coef, result.se])

    out = parties.compute(fit, X, y, ranges=[ranges_of(X), (0, 1)])
    k = X.shape[1] + 1
    assert np.all(np.abs(out[:k] - ref.params) < 0.05 * ref.bse)
    assert np.all(np.abs(out[k:] / ref.bse - 1) < 1e-2)
    design = sm.add_constant(X)
    mine = ((design @ out[:k] > 0) == y).mean()
    theirs = ((design @ ref.params > 0) == y).mean()
    assert abs(mine - theirs) <= 0.005


def test_logit_that_has_not_converged_releases_nothing(parties):
    X, y = _breast_cancer()
    with pytest.raises(NumericalRangeError, match="had not converged after 2 iterations"):
        parties.compute(lambda x, t: stats.logit(x, t, iterations=2).coef, X, y, ranges=[ranges_of(X), (0, 1)])


def test_naive_bayes_predictions_agree_with_scikit_learn(parties):
    from sklearn.datasets import load_breast_cancer
    from sklearn.naive_bayes import CategoricalNB, GaussianNB

    data = load_breast_cancer()
    X, y = data.data[:, :8], data.target
    out = parties.compute(lambda x, t: stats.gaussian_nb(x, t).predict(x), X, y, ranges=[ranges_of(X), (0, 1)])
    assert (out == GaussianNB().fit(X, y).predict(X)).mean() >= 0.99

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 3, 600), rng.integers(0, 2, 600)
    target = ((a + b + rng.integers(0, 2, 600)) > 2).astype(int)

    def categorical(xa, xb, t):
        from smpc_magic.secret.frames import SecretFrame

        features = [
            SecretFrame({f"{i}": xa[:, i] for i in range(3)}),
            SecretFrame({f"{i}": xb[:, i] for i in range(2)}),
        ]
        return stats.categorical_nb(features, t).predict(features)

    out = parties.compute(categorical, np.eye(3, dtype=int)[a], np.eye(2, dtype=int)[b], target, ranges=[(0, 1)] * 3)
    reference = CategoricalNB().fit(np.column_stack([a, b]), target).predict(np.column_stack([a, b]))
    assert (out == reference).mean() >= 0.99


@pytest.mark.timeout(400)  # (two sorts of 432 rows; Shamir's comparisons are the slow part)
def test_kaplan_meier_and_logrank_on_rossi_match_lifelines(parties):
    from lifelines import KaplanMeierFitter
    from lifelines.datasets import load_rossi
    from lifelines.statistics import logrank_test

    rossi = load_rossi()
    week, arrest, fin = (rossi[c].to_numpy().astype(np.int64) for c in ("week", "arrest", "fin"))
    grid = [1, 5, 10, 20, 30, 40, 52]

    def curve(t, e):
        km = stats.kaplan_meier(t, e, grid)
        return np.concatenate([km.survival, km.se])

    out = parties.compute(curve, week, arrest, ranges=[(1, 52), (0, 1)])
    kmf = KaplanMeierFitter().fit(week, arrest)
    assert np.abs(out[:7] - kmf.survival_function_at_times(grid).to_numpy()).max() < 1e-3
    table = kmf.event_table
    greenwood = (table["observed"] / (table["at_risk"] * (table["at_risk"] - table["observed"]))).cumsum()
    se = kmf.survival_function_["KM_estimate"] * np.sqrt(greenwood)
    assert np.abs(out[7:] - np.array([se[se.index <= g].iloc[-1] for g in grid])).max() < 1e-3

    chi2 = parties.compute(
        lambda t, e, g: stats.logrank(t, e, g).chi2, week, arrest, fin, ranges=[(1, 52), (0, 1), (0, 1)]
    )
    reference = logrank_test(week[fin == 1], week[fin == 0], arrest[fin == 1], arrest[fin == 0]).test_statistic
    assert abs(float(chi2) - reference) < 1e-2


def _follow_up(seed, n):
    """Follow-up in years to 2 decimals (ties), events about 40%, a 0/1 group."""
    rng = np.random.default_rng(seed)  # (test data only)
    group = rng.integers(0, 2, n)
    event_time = rng.exponential(6 + 4 * group)
    censor = rng.uniform(0.5, 12, n)
    time = np.round(np.minimum(event_time, censor), 2)
    return np.maximum(time, 0.01), (event_time <= censor).astype(np.int64), group


def test_kaplan_meier_on_real_valued_times_is_the_product_limit_estimate_of_lifelines():
    from lifelines import KaplanMeierFitter

    parties = InMemoryParties(3, suite="additive")
    time, event, group = _follow_up(7, 300)
    grid = [1.0, 2.5, 5.0, 7.5, 10.0]

    def curve(t, e, g):
        km = stats.kaplan_meier(t, e, grid, where=g)
        return np.concatenate([km.survival, km.se, km.at_risk * 1.0, km.nobs.reshape(1) * 1.0])

    out = parties.compute(curve, time, event, group, ranges=[(0, 12), (0, 1), (0, 1)])
    chosen = group == 1
    kmf = KaplanMeierFitter().fit(time[chosen], event[chosen])
    assert np.abs(out[:5] - kmf.survival_function_at_times(grid).to_numpy()).max() < 1e-3
    table = kmf.event_table
    greenwood = (table["observed"] / (table["at_risk"] * (table["at_risk"] - table["observed"]))).cumsum()
    se = kmf.survival_function_["KM_estimate"] * np.sqrt(greenwood)
    assert np.abs(out[5:10] - np.array([se[se.index <= g].iloc[-1] for g in grid])).max() < 1e-3
    assert out[10:15].tolist() == [float((time[chosen] >= g).sum()) for g in grid]  # at risk at g
    assert out[15] == chosen.sum()  # the group's rows, not the cohort's


def test_logrank_on_real_valued_tied_times_uses_every_event_time_as_lifelines():
    from lifelines.statistics import logrank_test

    parties = InMemoryParties(3, suite="additive")
    time, event, group = _follow_up(11, 300)
    assert len(np.unique(time)) < len(time)  # ties
    chi2 = parties.compute(
        lambda t, e, g: stats.logrank(t, e, g).chi2, time, event, group, ranges=[(0, 12), (0, 1), (0, 1)]
    )
    g = group == 1
    reference = logrank_test(time[g], time[~g], event[g], event[~g]).test_statistic
    assert float(chi2) == pytest.approx(reference, rel=1e-3)


def test_crosstab_counts_are_exact_and_chi2_matches_scipy(parties):
    from scipy.stats import chi2_contingency

    rng = np.random.default_rng(0)
    a = rng.integers(0, 3, 3000)
    b = (rng.random(3000) < 0.3 + 0.1 * a).astype(int)

    def table(x, y):
        result = stats.crosstab(x, y)
        return np.concatenate([result.counts.ravel(), result.chi2.reshape(1)])

    out = parties.compute(table, np.eye(3, dtype=int)[a], b, ranges=[(0, 1), (0, 1)])
    counts = np.array([[np.sum((a == i) & (b == j)) for j in range(2)] for i in range(3)])
    assert out[:-1].tolist() == counts.ravel().tolist()
    assert out[-1] == pytest.approx(chi2_contingency(counts, correction=False)[0], rel=1e-3)


def test_a_crosstab_with_an_empty_level_is_refused(parties):
    a = np.eye(3, dtype=int)[np.array([0, 1, 0, 1, 0, 1])]  # level 2 never occurs
    with pytest.raises(NumericalRangeError, match="never occurs"):
        parties.compute(lambda x, y: stats.crosstab(x, y).chi2, a, np.array([0, 1, 1, 0, 1, 0]), ranges=[(0, 1)] * 2)


def test_rates_and_rate_ratios_match_an_exact_plaintext_computation(parties):
    rng = np.random.default_rng(0)
    n = 3000
    events = (rng.random(n) < 0.02).astype(int)
    time = np.round(rng.uniform(0.1, 5, n), 3)
    group = (rng.random(n) < 0.5).astype(int)

    def rate(e, t):
        r = stats.incidence_rate(e, t, per=1000)
        return np.concatenate([r.rate.reshape(1), r.lower.reshape(1), r.upper.reshape(1)])

    out = parties.compute(rate, events, time, ranges=[(0, 1), (0, 5)])
    d, total, z = events.sum(), time.sum(), 1.959963984540054
    byar = [
        1000 * d / total,
        1000 * d * (1 - 1 / (9 * d) - z / (3 * np.sqrt(d))) ** 3 / total,
        1000 * (d + 1) * (1 - 1 / (9 * (d + 1)) + z / (3 * np.sqrt(d + 1))) ** 3 / total,
    ]
    assert out == pytest.approx(byar, rel=1e-3)
    exact = stats.PLAINTEXT_HELPERS["exact_rate_interval"](d, total)
    assert out[1:] == pytest.approx(exact, rel=2e-3)  # Byar is that close to Garwood's here

    def ratio(e, t, g):
        r = stats.rate_ratio(e, t, g)
        return np.concatenate([r.ratio.reshape(1), r.lower.reshape(1), r.upper.reshape(1)])

    out = parties.compute(ratio, events, time, group, ranges=[(0, 1), (0, 5), (0, 1)])
    d1, d0 = events[group == 1].sum(), events[group == 0].sum()
    rr = (d1 / time[group == 1].sum()) / (d0 / time[group == 0].sum())
    spread = z * np.sqrt(1 / d1 + 1 / d0)
    assert out == pytest.approx([rr, rr * np.exp(-spread), rr * np.exp(spread)], rel=1e-3)


def test_descriptives_match_numpy_at_raw_scales(parties):
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.integers(18, 95, 3000), np.round(rng.gamma(2, 1500, 3000).clip(0, 1e5), 2)]).astype(float)

    def describe(x):
        return np.concatenate([stats.var(x), stats.std(x), stats.cov(x).ravel(), stats.corr(x).ravel()])

    out = parties.compute(describe, X, ranges=[(np.array([18, 0.0]), np.array([95, 1e5]))])
    ref = np.concatenate([X.var(0, ddof=1), X.std(0, ddof=1), np.cov(X.T).ravel(), np.corrcoef(X.T).ravel()])
    assert out == pytest.approx(ref, rel=1e-4)


def test_group_means_and_spreads_by_a_secret_category_and_by_public_labels(parties):
    import pandas as pd

    rng = np.random.default_rng(3)
    x = np.round(rng.normal(50, 10, 300).clip(0, 100), 2)
    group = rng.integers(0, 3, 300)
    site = np.repeat(["a", "b", "c"], 100)

    def grouped(values, one_hot):
        secret = stats.group_mean(values, one_hot)
        public = stats.group_mean(values, site)
        variances = stats.var(values, by=one_hot)
        return np.concatenate(
            [
                secret.mean.ravel(),
                secret.std.ravel(),
                secret.count,
                public.mean.ravel(),
                public.std.ravel(),
                public.count,
                variances.ravel(),
            ]
        )

    out = parties.compute(grouped, x, np.eye(3, dtype=int)[group], ranges=[(0, 100), (0, 1)])
    by_group = pd.Series(x).groupby(group)
    by_site = pd.Series(x).groupby(site)
    assert out[:3] == pytest.approx(by_group.mean().to_numpy(), rel=1e-4)
    assert out[3:6] == pytest.approx(by_group.std().to_numpy(), rel=1e-4)
    assert out[6:9].tolist() == np.bincount(group).tolist()
    assert out[9:12] == pytest.approx(by_site.mean().to_numpy(), rel=1e-4)
    assert out[12:15] == pytest.approx(by_site.std().to_numpy(), rel=1e-4)
    assert out[15:18].tolist() == [100, 100, 100]
    assert out[18:] == pytest.approx(by_group.var().to_numpy(), rel=1e-4)


def test_logit_under_complete_separation_refuses_rather_than_report_a_fit(parties):
    """statsmodels raises PerfectSeparationError here; the secure fit must not return numbers."""
    rng = np.random.default_rng(5)
    x = np.round(rng.uniform(0, 10, 200), 2)
    y = (x > 5).astype(int)
    with pytest.raises(NumericalRangeError):
        parties.compute(lambda a, t: stats.logit(a, t, iterations=10).coef, x, y, ranges=[(0, 10), (0, 1)])


def test_naive_bayes_refuses_a_class_without_rows(parties):
    x = np.linspace(0, 1, 40)
    labels = np.zeros(40, dtype=int)  # class 1 never occurs
    with pytest.raises(NumericalRangeError, match="class has no rows"):
        parties.compute(lambda a, t: stats.gaussian_nb(a, t).theta, x, labels, ranges=[(0, 1), (0, 1)])
