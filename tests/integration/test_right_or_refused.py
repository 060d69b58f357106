"""Every released number is right or refused (issue 23): regression cases with real party processes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smpc_magic import simulate
from smpc_magic.errors import (
    NumericalRangeError,
    OverflowRiskError,
    PrecisionError,
    RangeRequiredError,
    SecretValueError,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _cohorts() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(1)

    def frame(n: int) -> pd.DataFrame:
        return pd.DataFrame({"band": rng.integers(0, 3, n), "bmi": rng.normal(27, 4.4, n).round(1)})

    return frame(40), frame(50)


def test_a_statistic_of_a_column_without_a_range_is_refused_not_zero():
    """Without a declared range the whole 64-bit range is assumed: the normalised column kept no
    significant bits at the working precision, so the standard deviation was 0; a mean of 600
    values of about 50 was 0.04 off. Both stop before anything is sent, naming only the column
    the statistic uses (the frame's other column without a range, band, is not an error)."""
    north, south = _cohorts()
    inputs = {"north": {"d": north}, "south": {"d": south}}
    for cell in ("s = smpc.stats.std(d['bmi'])", "s = smpc.stats.mean(d['bmi'])"):
        with pytest.raises(RangeRequiredError, match=r"The cause: no range is declared for d\['bmi'\], so"):
            simulate(cell, inputs, "s")
    with pytest.raises(RangeRequiredError, match=r"The cause: no range is declared for d\['bmi'\], so") as info:
        simulate("s = smpc.stats.var(d['bmi'])", inputs, "s")
    assert isinstance(info.value, OverflowRiskError)  # (what cells and callers caught before)
    # ready to paste, for every way of declaring a range
    assert 'ranges={"bmi": (MIN, MAX)}' in str(info.value)
    text = str(info.value)
    schema = text.split("In the study schema:\n\n", 1)[1].split("\n\nWith simulate", 1)[0]
    import tomllib

    pasted = tomllib.loads(schema.replace("MIN", "0").replace("MAX", "60"))  # lines that paste as they are
    assert [v["name"] for v in pasted["variable"]] == ["bmi"]
    # a frame's ranges without guessing: a released envelope
    assert "env = smpc.stats.envelope(d)" in text and "%smpc private d --ranges-from env" in text
    assert "--range MIN MAX" not in text  # (a frame is not marked with one range)


def test_the_same_statistic_with_a_range_is_right():
    north, south = _cohorts()
    both = pd.concat([north, south])
    got = simulate(
        "s = smpc.stats.std(d['bmi'])",
        {"north": {"d": north}, "south": {"d": south}},
        "s",
        ranges={"bmi": (10, 60), "band": (0, 2)},
    )
    assert float(got["s"]) == pytest.approx(both["bmi"].std(ddof=1), rel=1e-4)


def test_a_group_of_whole_number_codes_gives_one_level_per_code():
    """Age bands coded 0/1/2: one row per code with pandas' counts and means (once one level
    with a count of the codes' sum, more than the rows)."""
    north, south = _cohorts()
    both = pd.concat([north, south])
    expected = both.groupby("band")["bmi"].agg(["mean", "count", "std"])
    got = simulate(
        "m = smpc.stats.group_mean(d['bmi'], by=d['band'])",
        {"north": {"d": north}, "south": {"d": south}},
        "m",
        ranges={"bmi": (10, 60), "band": (0, 2)},
    )["m"]
    assert [str(v) for v in got.levels] == ["0", "1", "2"]
    assert np.asarray(got.count).reshape(-1).tolist() == expected["count"].tolist()
    assert np.allclose(np.asarray(got.mean).reshape(-1), expected["mean"], rtol=1e-4)
    assert np.allclose(np.asarray(got.std).reshape(-1), expected["std"], rtol=1e-3)


def test_a_grouping_the_function_cannot_interpret_is_refused_saying_how_to_declare_it():
    north, south = _cohorts()
    with pytest.raises(SecretValueError, match="whole-number codes"):
        simulate(
            "m = smpc.stats.group_mean(d['band'], by=d['bmi'])",
            {"north": {"d": north}, "south": {"d": south}},
            "m",
            ranges={"bmi": (10, 60), "band": (0, 2)},
        )


def test_categorical_naive_bayes_on_plain_0_1_columns_matches_scikit_learn():
    """A 0/1 column that is not a ``v=level`` column is a feature with levels 0 and 1 (it was
    read as a feature with one level, and every probability came out as 1)."""
    from sklearn.naive_bayes import CategoricalNB

    rng = np.random.default_rng(3)
    n = 60
    b, f = rng.integers(0, 2, n), rng.integers(0, 2, n)
    a = (rng.random(n) < 0.3 + 0.4 * b).astype(int)
    inputs = {"north": {"b": b[:30], "f": f[:30], "a": a[:30]}, "south": {"b": b[30:], "f": f[30:], "a": a[30:]}}
    got = simulate(
        "m = smpc.stats.categorical_nb(np.column_stack([b, f]), a)",
        inputs,
        "m",
        ranges={"b": (0, 1), "f": (0, 1), "a": (0, 1)},
        policies={"north": {}, "south": {}},
    )["m"]
    ref = CategoricalNB(alpha=1.0).fit(np.column_stack([b, f]), a)
    expected = np.concatenate(ref.feature_log_prob_, axis=1)
    assert np.allclose(np.asarray(got.log_prob), expected, atol=1e-4)
    assert np.allclose(np.asarray(got.class_prior), np.exp(ref.class_log_prior_), atol=1e-5)


def test_a_release_whose_error_could_exceed_its_accuracy_is_refused_and_a_right_one_carries_its_error():
    """1 / (x - 5) with x declared in [0, 10]: the divisor's range reaches 0, so the quotient's
    error has no useful bound and nothing is released (with real processes, before anything is
    sent); the same cell with a divisor proved away from 0 releases, and a mean's error bound
    comes back beside it for display."""
    north, south = _cohorts()
    inputs = {"north": {"d": north}, "south": {"d": south}}
    with pytest.raises(PrecisionError, match=r"releasing q: the value could be off by .* Nothing was released"):
        simulate("q = 1 / (d['bmi'] * 0.1 - 3)", inputs, "q", ranges={"bmi": (10, 60), "band": (0, 2)})
    both = pd.concat([north, south])
    got = simulate(
        "m = smpc.stats.mean(d['bmi'])\nr = (1 / (d['bmi'] * 0.1)).sum()",
        inputs,
        "m r",
        ranges={"bmi": (10, 60), "band": (0, 2)},
    )
    assert float(got["m"]) == pytest.approx(both["bmi"].mean(), rel=1e-4)
    assert float(got["r"]) == pytest.approx((10 / both["bmi"]).sum(), rel=1e-3)


@pytest.mark.parametrize(
    "cell",
    [
        "r = smpc.stats.mean(1 / np.exp(z))",  # a statistic does not hide its input's error
        "r = ((1 / np.exp(z)).sum()).round()",  # nor does rounding
        "r = (1 / np.exp(z) > 62000).sum()",  # nor a comparison of a value that is far off
    ],
)
def test_a_statistic_a_rounding_or_a_comparison_of_a_far_off_value_is_refused(cell):
    """1 / e**-11 for z declared in [-12, 0]: e**z near e**-12 has no significant bits left."""
    inputs = {"north": {"z": np.full(5, -11.0)}, "south": {"z": np.full(5, -11.0)}}
    with pytest.raises(PrecisionError):
        simulate(cell, inputs, "r", ranges={"z": (-12, 0)})


def test_a_statistic_carries_its_inputs_error_on():
    """mean(K (x - c)) - 13: each input is within its own accuracy, but the error it carries (from
    x and c rounded to 16 bits, times 1000) is 5 times what the result's range allows. A
    statistic that kept only its own stated accuracy released it silently."""
    x0, c = 1 + 0.49 / 65536, (np.floor(0.986 * 65536) + 0.51) / 65536
    inputs = {"north": {"x": np.full(5, x0)}, "south": {"x": np.full(5, x0)}}
    with pytest.raises(PrecisionError, match="releasing r"):
        simulate(
            "r = smpc.stats.mean(1000.0 * (x - c)) - 13.0", inputs, "r", ranges={"x": (1.0, 1.002)}, public={"c": c}
        )


def _regression_sites(collinear: bool) -> dict[str, dict[str, pd.DataFrame]]:
    rng = np.random.default_rng(3)

    def frame(n: int) -> pd.DataFrame:
        age = rng.normal(60, 10, n).round()
        bmi = age * 0.45 if collinear else rng.normal(27, 4, n).round(1)
        return pd.DataFrame({"age": age, "bmi": bmi, "y": 0.5 * age + bmi + rng.normal(0, 5, n)})

    return {"north": {"d": frame(200)}, "south": {"d": frame(150)}}


@pytest.mark.parametrize(
    "cell",
    [
        "f = smpc.stats.ols(d[['age', 'bmi']], d['y'])",
        "f = smpc.stats.logit(d[['age', 'bmi']], d['y'] > 50)",
        "f = smpc.stats.poisson(d[['age', 'bmi']], d['y'] > 60)",
    ],
)
def test_a_range_far_wider_than_the_data_is_named_as_the_cause_not_collinearity(cell):
    """A range of 0 to 10^9 for ages leaves the normalised column too few bits, and the inverse of
    the normalised columns then fails too: ols's refusal named both ("varies too little" and "too
    close to collinear"), logit's and poisson's only "collinear" and "had not converged", so an
    analyst dropped covariates in vain. The precision checks are opened as their own bit, and the
    Newton fits check their columns' spread as ols does: the error names the range, and only it."""
    wide = {"age": (0, 1e9), "bmi": (10, 60), "y": (-100, 300)}
    with pytest.raises(PrecisionError, match="varies too little within its declared range") as info:
        simulate(cell, _regression_sites(False), "f", ranges=wide)
    assert "collinear" not in str(info.value) and "'age': -3.68709e+07 to 1.03687e+09" in str(info.value)


def test_collinear_covariates_with_fitting_ranges_are_named_collinear_not_a_range():
    ranges = {"age": (20, 100), "bmi": (9, 45), "y": (-100, 300)}
    with pytest.raises(NumericalRangeError, match="too close to collinear") as info:
        simulate("f = smpc.stats.ols(d[['age', 'bmi']], d['y'])", _regression_sites(True), "f", ranges=ranges)
    assert not isinstance(info.value, PrecisionError) and "range" not in str(info.value).split("collinear")[0]


@pytest.mark.parametrize(
    "cell",
    ["f = smpc.stats.ols(d[['age', 'bmi']], d['y'])", "f = smpc.stats.logit(d[['age', 'bmi']], d['y'] > 50)"],
)
def test_every_column_a_model_needs_a_range_for_is_named_at_once(cell):
    """ols named only the first column without a range ('age'): bmi and y came one rerun at a
    time. Each model now names every one it uses (and not the frame's others)."""
    sites = _regression_sites(False)
    for frame in sites.values():
        frame["d"]["other"] = 1.0
    with pytest.raises(RangeRequiredError) as info:
        simulate(cell, sites, "f")
    cause = str(info.value).split("The cause: no range is declared for ", 1)[1].split(", so", 1)[0]
    expected = {"d['age']", "d['bmi']"} | ({"d['y']"} if "ols" in cell else set())
    assert set(cause.split(", ")) == expected


def test_a_sum_without_a_range_works_where_readme_says_and_is_refused_beyond():
    """README: without a range, a plain sum of up to about 30,000 non-integer values works (accurate
    relative to its bound); a sum of whole numbers, or of more values, is refused naming the range."""
    rng = np.random.default_rng(5)
    few = rng.normal(50, 10, 600)
    got = simulate("s = x.sum()", {"north": {"x": few[:300]}, "south": {"x": few[300:]}}, "s")
    assert float(got["s"]) == pytest.approx(few.sum(), abs=5.0)
    whole = few[:20].round().astype(np.int64)
    many = rng.normal(50, 10, 70_000)
    for data in (whole, many):
        half = len(data) // 2
        with pytest.raises(RangeRequiredError, match="The cause: no range is declared for x"):
            simulate("s = x.sum()", {"north": {"x": data[:half]}, "south": {"x": data[half:]}}, "s")
