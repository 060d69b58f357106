"""The Mantel–Haenszel rate ratio with real party processes, against the textbook formulas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smpc_magic import simulate
from smpc_magic.errors import DisclosureError, SecretValueError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

SCHEMA = """
[study]
name = "boards"

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
name = "drug"
kind = "binary"

[[variable]]
name = "ich"
kind = "binary"

[[variable]]
name = "years"
kind = "continuous"
min = 0.1
max = 10
"""


def _board(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)  # (test data only)
    band = rng.integers(0, 3, n)
    drug = (rng.random(n) < 0.3 + 0.2 * band).astype(int)  # older patients more often on the drug
    years = rng.uniform(0.5, 8, n).round(2)
    rate = 0.01 * np.exp(0.8 * band + 0.4 * drug)
    ich = (rng.random(n) < 1 - np.exp(-rate * years)).astype(int)
    return pd.DataFrame(
        {"band": band, "sex": rng.choice(["female", "male"], n), "drug": drug, "ich": ich, "years": years}
    )


def _reference(frame: pd.DataFrame, stratum: str) -> tuple[float, float, float]:
    r = s = p = 0.0
    for _, g in frame.groupby(stratum):
        a, b = g.loc[g.drug == 1, "ich"].sum(), g.loc[g.drug == 0, "ich"].sum()
        t1, t0 = g.loc[g.drug == 1, "years"].sum(), g.loc[g.drug == 0, "years"].sum()
        t = t1 + t0
        r, s, p = r + a * t0 / t, s + b * t1 / t, p + (a + b) * t1 * t0 / t**2
    ratio, se = r / s, np.sqrt(p / (r * s))
    return ratio, ratio * np.exp(-1.959963984540054 * se), ratio * np.exp(1.959963984540054 * se)


@pytest.fixture(scope="module")
def boards(tmp_path_factory):
    path = tmp_path_factory.mktemp("schema") / "boards.toml"
    path.write_text(SCHEMA)
    return {"north": _board(1, 700), "south": _board(2, 400), "west": _board(3, 250)}, str(path)


def test_the_stratified_rate_ratio_matches_the_textbook_formulas(boards):
    frames, schema = boards
    cell = (
        "coded = smpc.stats.mantel_haenszel(d['ich'], d['years'], d['drug'], d['band'], labels=('drug', 'none'))\n"
        "levels = smpc.stats.mantel_haenszel(d['ich'], d['years'], d['drug'], d.categorical('sex'))\n"
        "crude = smpc.stats.rate_ratio(d['ich'], d['years'], d['drug'])\n"
        "odds = smpc.stats.mantel_haenszel(d['ich'], None, d['drug'], d['band'], labels=('drug', 'none'))"
    )
    out = simulate(
        cell, {k: {"d": f} for k, f in frames.items()}, "coded levels crude odds", schema=schema, timeout=150
    )
    pooled = pd.concat(frames.values(), ignore_index=True)
    for name, stratum in (("coded", "band"), ("levels", "sex")):
        got = out[name]
        want = _reference(pooled, stratum)
        np.testing.assert_allclose([got.ratio, got.lower, got.upper], want, rtol=1e-3)
    assert "adjusted for strata 0, 1, 2" in out["coded"].summary() and "drug over none" in out["coded"].summary()
    # confounding by age band: the crude ratio is further from the adjusted one than 1e-3
    assert abs(out["crude"].ratio - out["coded"].ratio) > 0.05
    # the odds-ratio form (0/1 outcome, no person-time) against statsmodels' StratifiedTable
    from statsmodels.stats.contingency_tables import StratifiedTable

    tables = [
        pd.crosstab(1 - band["drug"], 1 - band["ich"]).reindex(index=[0, 1], columns=[0, 1], fill_value=0).to_numpy()
        for _, band in pooled.groupby("band")
    ]
    reference = StratifiedTable(tables)
    odds = out["odds"]
    want = [reference.oddsratio_pooled, *reference.oddsratio_pooled_confint()]
    np.testing.assert_allclose([odds.ratio, odds.lower, odds.upper], want, rtol=1e-3)
    assert "Odds ratio adjusted for strata 0, 1, 2" in odds.summary() and "Robins-Breslow-Greenland" in odds.summary()


def test_a_stratum_cell_with_one_event_is_withheld(boards):
    frames, schema = boards
    small = {k: f.copy() for k, f in frames.items()}
    for f in small.values():
        f.loc[f.band == 2, "ich"] = 0
    small["west"].loc[small["west"].index[small["west"].band == 2][:1], ["ich", "drug"]] = 1
    for cell in (
        "m = smpc.stats.mantel_haenszel(d['ich'], d['years'], d['drug'], d['band'])",
        # the odds-ratio form: that patient is the one exposed case of band 2
        "m = smpc.stats.mantel_haenszel(d['ich'], None, d['drug'], d['band'])",
    ):
        with pytest.raises(DisclosureError, match="min_count"):
            simulate(cell, {k: {"d": f} for k, f in small.items()}, "m", schema=schema, policies={k: {} for k in small})


def test_the_odds_ratio_form_takes_a_0_1_outcome(boards):
    frames, schema = boards
    cell = "m = smpc.stats.mantel_haenszel(d['years'], None, d['drug'], d['band'])"
    with pytest.raises(SecretValueError, match="the outcome is a 0/1 column"):
        simulate(cell, {k: {"d": f} for k, f in frames.items()}, "m", schema=schema, timeout=60)
