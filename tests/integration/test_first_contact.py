"""A newcomer's plain Python and pandas habits in a cell, with real party processes: public
lists of column names, ``_`` as a throwaway name, boolean-mask filtering, ranges for some
columns only, and refusals that say what is available."""

import numpy as np
import pandas as pd
import pytest

from smpc_magic import simulate
from smpc_magic.errors import SecretValueError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

RANGES = {"age": (30, 90), "bmi": (10, 60), "sbp": (60, 250)}


@pytest.fixture(scope="module")
def sites():
    rng = np.random.default_rng(5)  # (test data only)

    def frame(n):
        return pd.DataFrame(
            {
                "age": rng.integers(30, 90, n),
                "bmi": np.round(rng.normal(27, 4, n), 1),
                "sbp": np.round(rng.normal(130, 15, n)),
                "visits": rng.integers(0, 9, n),  # no range declared: not an error unless used
            }
        )

    return {"a": {"d": frame(60)}, "b": {"d": frame(45)}}


@pytest.fixture(scope="module")
def pooled(sites):
    return pd.concat([s["d"] for s in sites.values()], ignore_index=True)


@pytest.fixture(scope="module")
def released(sites):
    cell = (
        "m = smpc.stats.mean(d[cols])\n"  # a public list of names
        "k = 0\n"
        "for _ in range(3):\n"  # _ as a throwaway name
        "    k = k + 1\n"
        "old = d.loc[d['age'] > 60, ['bmi', 'sbp']]\n"  # boolean-mask filtering, pandas style
        "o = smpc.stats.mean(old)\n"
        "s = d['sbp'][d['age'] > 60].sum() * k\n"
        "fit = smpc.stats.ols(d[d['age'] > 45][['age', 'bmi']], d[d['age'] > 45]['sbp'])\n"
        "w = smpc.stats.describe(d[['bmi', 'sbp']], where=d['age'] > 60)\n"  # where= on any statistic
        "wfit = smpc.stats.ols(d[['age', 'bmi']], d['sbp'], where=d['age'] > 45)\n"
    )
    names = "m o s fit w wfit"
    return simulate(cell, sites, names, public={"cols": ["age", "bmi"]}, ranges=RANGES, timeout=120)


def test_a_public_list_of_names_selects_columns_and_underscore_is_a_throwaway(released, pooled):
    assert np.asarray(released["m"]) == pytest.approx(pooled[["age", "bmi"]].mean().to_numpy(), abs=1e-3)
    assert float(released["s"]) == pytest.approx(3 * pooled.loc[pooled["age"] > 60, "sbp"].sum(), rel=1e-5)


def test_boolean_mask_filtering_gives_the_subset_every_statistic_uses(released, pooled):
    import statsmodels.api as sm

    old = pooled.loc[pooled["age"] > 60, ["bmi", "sbp"]]
    assert np.asarray(released["o"]) == pytest.approx(old.mean().to_numpy(), abs=1e-3)
    sub = pooled[pooled["age"] > 45]
    ref = sm.OLS(sub["sbp"], sm.add_constant(sub[["age", "bmi"]])).fit()
    fit = released["fit"]
    assert int(round(float(fit.nobs))) == len(sub)
    assert np.asarray(fit.coef) == pytest.approx(ref.params.to_numpy(), abs=0.02 * ref.bse.max())
    assert np.asarray(fit.se) == pytest.approx(ref.bse.to_numpy(), rel=0.02)
    # where= is the same subset
    assert np.asarray(released["wfit"].coef) == pytest.approx(ref.params.to_numpy(), abs=0.02 * ref.bse.max())
    w = released["w"]
    assert np.asarray(w.count).tolist() == [len(old)] * 2
    assert np.asarray(w.mean) == pytest.approx(old.mean().to_numpy(), abs=1e-3)
    assert np.asarray(w.max) == pytest.approx(old.max().to_numpy(), abs=1e-3)


@pytest.mark.parametrize(
    "cell, expected",
    [
        ("out = np.median(d['age'])", ["np.median is not available", "np.exp", "smpc.stats"]),
        ("out = len(d[d['age'] > 60])", ["how many rows a secret filter keeps is secret", "mask.sum()"]),
        # a frame times a mask before a fit (was a raw TypeError); a ufunc on a whole frame
        (
            "out = smpc.stats.ols(d[['age']] * (d['age'] > 60), d['bmi'])",
            ["arithmetic on a whole secret frame", "cohort[mask]"],
        ),
        ("out = np.log(d[['age', 'bmi']])", ["arithmetic on a whole secret frame", "where=mask"]),
    ],
)
def test_refusals_say_what_is_available(sites, cell, expected):
    with pytest.raises(SecretValueError) as info:
        simulate(cell, sites, "out", ranges=RANGES, timeout=60)
    for text in expected:
        assert text in str(info.value)
