"""Cells written to defeat disclosure control (issue 22's families), with real party processes.

Every site runs under the documented default policy (an empty policy file: min_count 3, min_rows
3, row_level and per_site refused). Each attack must be stopped at every site with nothing
released; the same cell must fail the same way whatever the private values (no oracle).
"""

from __future__ import annotations

import numpy as np
import pytest

from smpc_magic import simulate
from smpc_magic.errors import CellBoundaryError, DisclosureError, SecretValueError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

DEFAULTS = {"north": {}, "south": {}}
RANGES = {"x": (0, 100), "flag": (0, 1), "a": (0, 1), "b": (0, 1)}
NORTH_X = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0])
SOUTH_X = np.array([15.0, 25.0, 35.0, 45.0, 55.0, 95.0])  # one patient above 80


def _inputs(**extra: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    north = {"x": NORTH_X, **{k: v[:6] for k, v in extra.items()}}
    south = {"x": SOUTH_X, **{k: v[6:] for k, v in extra.items()}}
    return {"north": north, "south": south}


def _withheld(code: str, reveal: str, inputs: dict | None = None, policies: dict | None = None) -> str:
    with pytest.raises(DisclosureError) as caught:
        simulate(code, inputs or _inputs(), reveal, ranges=RANGES, policies=policies or DEFAULTS)
    message = str(caught.value)
    assert "Nothing of this cell was released" in message
    for value in [*NORTH_X, *SOUTH_X]:  # an error never carries a private value
        assert f" {value:g} " not in message and f"{value:.1f}" not in message
    return message


def test_a_caught_check_cannot_be_an_oracle_try_is_refused_before_anything_is_shared():
    code = (
        "lo = 0\nfor mid in [50, 75]:\n    f = x[0:1] >= mid\n    try:\n"
        "        smpc.stats.incidence_rate(f, f * 0 + 1)\n        lo = mid\n    except ArithmeticError:\n"
        "        pass\ns = x.sum()"
    )
    with pytest.raises(CellBoundaryError, match="try/except"):
        simulate(code, _inputs(), "s", ranges=RANGES, policies=DEFAULTS)


@pytest.mark.parametrize("first", [10.0, 90.0])
def test_a_check_on_one_row_is_refused_whatever_the_row_holds(first):
    """Without try, a statistic's check on one patient's row would still answer a yes/no
    question by stopping the cell or not; it is refused from public facts, the same either way."""
    inputs = _inputs()
    inputs["north"] = {"x": np.concatenate([[first], NORTH_X[1:]])}
    code = "f = x[0:1] >= 50\nr = smpc.stats.incidence_rate(f, f * 0 + 1)\ns = x.sum()"
    message = _withheld(code, "s", inputs)
    assert "the check of" in message and "row_level" in message


def test_a_statistics_result_cannot_be_overwritten_with_rows():
    code = "m = smpc.stats.mean(np.column_stack([x, x, x, x, x, x, x, x, x, x, x, x]))\nm[:] = x"
    with pytest.raises(SecretValueError, match="cannot be changed in place"):
        simulate(code, _inputs(), "m", ranges=RANGES, policies={"north": {"only_statistics": True}})


@pytest.mark.parametrize(
    "code",
    [
        "c = (x > 80).sum() * 1.0",
        "c = -(x > 80).sum()",
        "c = (x > 80).sum() * 3 + 7",
        "c = ((x > 80) * 2).sum() / 2",
        "c = smpc.stats.mean(x > 80)",
        "c = (x * (x > 80)).sum()",  # a sum over a secret subset of one patient
        "c = (x * (x <= 80)).sum()",  # ... or over all but one: the complement is checked too
    ],
)
def test_a_count_of_one_is_withheld_whatever_form_it_takes(code):
    _withheld(code, "c")


@pytest.mark.parametrize(
    "code",
    [
        "y = x[1:]",
        "y = np.concatenate([x, np.zeros(3)])",
        "y = x.reshape(3, 4).T",
        "y = smpc.max(x)",
        "y = x.max() - x.min()",
        "y = np.eye(12)[3] @ x",  # a public one-hot row picks one patient
        "w = np.zeros(12)\nw[3] = 1\ny = (x * w).sum()",  # a public weight with one non-zero
        "y = np.where(np.arange(12) == 3, x, 0).sum()",
        "y = x[1:] + x[:-1]",
    ],
)
def test_row_level_values_are_withheld_however_they_are_shaped(code):
    message = _withheld(code, "y")
    assert "row_level" in message


def test_few_rows_behind_an_aggregate_are_withheld():
    message = _withheld("y = x[:2].sum() * 10", "y")
    assert "min_rows" in message


@pytest.mark.parametrize(
    "code",
    [
        "m = smpc.stats.mean(x, by=[0] * 6 + [1] * 6)",  # a label that is really a site
        "m = smpc.stats.group_mean(x, by=[0] * 6 + [1] * 6)",
        "m = x[:6].mean()",
    ],
)
def test_a_site_label_cannot_release_per_site_values(code):
    message = _withheld(code, "m")
    assert "per_site" in message and "site 'north'" in message


def test_a_small_table_cell_does_not_come_back_through_means_of_products():
    a = np.array([0, 0, 0, 1, 1, 0] + [1, 0, 0, 0, 1, 1])
    b = np.array([1, 0, 0, 1, 0, 0] + [0, 0, 1, 0, 0, 0])  # a and b both 1: one patient
    for code in ["d = smpc.stats.mean(a * b)", "d = smpc.stats.describe(np.column_stack([a * b, x]))"]:
        _withheld(code, "d", _inputs(a=a, b=b))


def test_ordinary_analyses_on_enough_rows_are_released_and_right():
    import statsmodels.api as sm

    rng = np.random.default_rng(7)
    flag = (np.arange(12) % 3 == 0).astype(np.int64)  # 4 of 12 in one level, 8 in the other
    x = np.concatenate([NORTH_X, SOUTH_X])
    y = (0.5 * x + 3 * flag + rng.normal(0, 1, 12)).round(2)
    code = "m = smpc.stats.mean(x)\nc = (x > 30).sum()\nfit = smpc.stats.ols(np.column_stack([flag, x]), y)"
    ranges = {**RANGES, "y": (-10, 100)}
    got = simulate(code, _inputs(flag=flag, y=y), "m, c, fit", ranges=ranges, policies=DEFAULTS)
    assert abs(float(got["m"]) - x.mean()) < 1e-3
    assert int(got["c"]) == int((x > 30).sum())
    ref = sm.OLS(y, sm.add_constant(np.column_stack([flag, x]))).fit()
    assert np.all(np.abs(np.asarray(got["fit"].coef) - ref.params) < 0.01 * ref.bse)


# ----- weights, differences, disguised selections (the red team's second round) ----------------------
@pytest.mark.parametrize(
    "code",
    [
        "y = x @ (np.eye(12) + 1)",  # each output weighs one patient twice
        "y = smpc.stats.mean(x[:, None] * (np.eye(12) + 1))",
        "y = (x * np.concatenate([[1.0], np.full(11, 1e-6)])).sum()",  # tiny weights: the sum is one patient's value
        "y = np.where(np.arange(12) == 0, x, x * 1e-6).sum()",
        "y = x.sum() - x[1:].sum()",  # a difference of overlapping sums
        "y = x.mean() * 12 - x[1:].mean() * 11",
        "y = np.concatenate([x, x[:1]]).sum() - x.sum()",  # a patient counted twice
        "y = (x * (x.sum() * 0 + np.arange(12.0))).sum()",  # a secret weight that differs by row
        "s = 0\nfor i in range(2):\n    s = s + x[i:].sum()\ny = s - 2 * x[1:].sum()",  # a loop of sums
    ],
)
def test_weighted_sums_and_differences_that_single_out_a_patient_are_withheld(code):
    message = _withheld(code, "y")
    assert "min_rows" in message or "row_level" in message


def test_two_releases_whose_difference_is_one_patient_are_withheld_together():
    message = _withheld("s1 = x.sum()\ns2 = x[1:].sum()", "s1, s2")
    assert "together they tell apart a group of 1 rows" in message


def test_a_design_column_that_picks_one_patient_is_withheld():
    _withheld("fit = smpc.stats.ols(np.column_stack([np.eye(12)[0], x]), x * 2)", "fit")


@pytest.mark.parametrize(
    "code",
    [
        "g = (x * 0).astype(int) + np.array([0] * 6 + [1] * 6)\nm = smpc.stats.group_mean(x, by=g)",  # secret label
        "g = x * 0 + np.array([0] * 6 + [1] * 6)\nm = (x * g).sum()",
        "m = (x * np.array([1.0] * 6 + [2.0] * 6)).sum()",  # weights that differ by site
    ],
)
def test_a_site_label_hidden_in_a_secret_or_a_weight_cannot_release_per_site_values(code):
    message = _withheld(code, "m")
    assert "per_site" in message


@pytest.mark.parametrize(
    "code",
    [
        "s = (x * flag).sum()",  # a one-hot column given as floating point: not a selection
        "s = (x * (flag * 1000 - 999)).sum()",  # ... or weights that differ for one row, with x.sum()
        "s = smpc.stats.mean(x * flag)",
    ],
)
def test_a_factor_another_site_gives_for_the_same_rows_is_a_weight_that_may_single_out_a_row(code):
    """Columns of the same patients at two sites: north's values times a column south chose.
    South's one-hot column (floating point, so not a checked selection) read north's patient."""
    x = np.concatenate([NORTH_X, SOUTH_X])
    flag = np.zeros(12)
    flag[4] = 1.0
    inputs = {"north": {"x": x}, "south": {"flag": flag}}
    message = _withheld(code, "s", inputs, policies={"north": {"per_site": True}, "south": {"per_site": True}})
    assert "min_rows" in message or "different sites hold for the same rows" in message  # (a statistic: at once)


@pytest.mark.parametrize(
    "code",
    [
        "x2 = x + flag - flag\nw2 = flag + x - x\ns = (x2 * w2).sum()",  # each factor holds both sites' data
        "s = ((x + flag) ** 2 - x**2 - flag**2).sum() / 2",  # polarisation: 2 x w inside a square
        "v = x + flag\ns = (v @ v - x @ x - flag @ flag) / 2",
    ],
)
def test_a_product_that_mixes_two_sites_data_on_a_row_is_a_weight_however_it_is_written(code):
    x = np.concatenate([NORTH_X, SOUTH_X])
    flag = np.zeros(12)
    flag[4] = 1.0
    inputs = {"north": {"x": x}, "south": {"flag": flag}}
    message = _withheld(code, "s", inputs, policies={"north": {"per_site": True}, "south": {"per_site": True}})
    assert "min_rows" in message


def test_every_row_of_a_column_through_a_one_hot_matrix_is_withheld():
    x = np.concatenate([NORTH_X, SOUTH_X])
    inputs = {"north": {"x": x}, "south": {"W": np.eye(12)}}
    code = "xc = x.reshape(12, 1)\ns = ((xc + W) ** 2 - xc**2 - W**2).sum(axis=0) / 2"
    with pytest.raises(DisclosureError, match="min_rows"):
        simulate(code, inputs, "s", ranges={**RANGES, "W": (0, 1)}, policies={"north": {}, "south": {}})


def test_a_statistic_over_columns_two_sites_hold_for_the_same_rows_is_refused():
    """A regression on south's one-hot covariate reads north's outcome of that row (with the
    sites' data mixed so that no column looks like one site's alone)."""
    x = np.concatenate([NORTH_X, SOUTH_X])
    flag = np.zeros(12)
    flag[4] = 1.0
    inputs = {"north": {"x": x}, "south": {"flag": flag}}
    with pytest.raises(DisclosureError, match="different sites hold for the same rows"):
        simulate("s = smpc.stats.ols(flag + x - x, x + flag - flag)", inputs, "s", ranges=RANGES, policies=DEFAULTS)


def test_the_record_of_missing_rows_cannot_be_changed_in_a_cell(tmp_path):
    """Overwriting a variable's :observed column with the variable would make a one-hot weight
    look like a selection (and statistics leave rows out by it)."""
    import pandas as pd

    schema = tmp_path / "s.toml"
    schema.write_text(
        '[study]\nname = "s"\n\n[[variable]]\nname = "x"\nkind = "continuous"\nmin = 0\nmax = 100\n\n'
        '[[variable]]\nname = "w"\nkind = "continuous"\nmin = 0\nmax = 1\nmissing = true\n'
    )
    w = np.zeros(12)
    w[3], w[9:] = 1.0, np.nan
    inputs = {
        "north": {"nf": pd.DataFrame({"x": np.concatenate([NORTH_X, SOUTH_X])})},
        "south": {"sf": pd.DataFrame({"w": w})},
    }
    code = "w = sf['w']\no = sf['w:observed']\no[:] = w\ns = (nf['x'] * w).sum()"
    with pytest.raises(SecretValueError, match=":observed column"):
        simulate(code, inputs, "s", schema=str(schema), policies=DEFAULTS)


def test_a_short_where_mask_does_not_hide_that_a_statistic_mixes_two_sites_columns():
    """var(x + 100 w) and var(x - 100 w) differ by 400 cov(x, w): with south's one-hot w, north's
    patient. A 5-row mask matched no input (so filtered nothing) and hid the mixing."""
    x = np.concatenate([NORTH_X, SOUTH_X])
    flag = np.zeros(12)
    flag[3] = 1.0
    inputs = {"north": {"x": x}, "south": {"flag": flag, "g": np.ones(12, dtype=int)}}
    cell = "a = smpc.stats.var(x + 100 * flag, where=g[:5])\nb = smpc.stats.var(x - 100 * flag, where=g[:5])"
    with pytest.raises((DisclosureError, SecretValueError)):
        simulate(cell, inputs, "a b", ranges={**RANGES, "g": (0, 1)}, policies=DEFAULTS)
    pooled = _inputs(g=np.ones(12, dtype=int))  # (each site's own rows: a mask of the wrong length)
    with pytest.raises(SecretValueError, match="where= has 5 rows"):
        simulate("a = smpc.stats.var(x, where=g[:5])", pooled, "a", ranges={**RANGES, "g": (0, 1)}, policies=DEFAULTS)


def test_three_selections_whose_sums_combine_to_one_row_are_withheld():
    """A = {0, 1, 2, 3}, B = {0, 1, 2, 4, 5, 6, 7}, C = {4, 5, 6, 7}: each holds enough rows and so
    does each complement, and no two are nearly equal, but sum A - sum B + sum C is row 3: A and B
    split the rows into a group of one (in A only)."""
    x = np.concatenate([NORTH_X, SOUTH_X])

    def chosen(rows: list[int]) -> np.ndarray:
        g = np.zeros(12, dtype=int)
        g[rows] = 1
        return g

    inputs = {"north": {"x": x}, "south": {"a": chosen([0, 1, 2, 3]), "b": chosen([0, 1, 2, 4, 5, 6, 7])}}
    inputs["south"]["flag"] = chosen([4, 5, 6, 7])
    code = "sa = (x * a).sum()\nsb = (x * b).sum()\nsc = (x * flag).sum()"
    message = _withheld(code, "sa, sb, sc", inputs)
    assert "min_rows" in message


def test_a_0_1_integer_column_another_site_gives_is_a_selection_whose_size_is_checked():
    x = np.concatenate([NORTH_X, SOUTH_X])
    flag = np.arange(12) % 2
    inputs = {"north": {"x": x}, "south": {"flag": flag}}
    got = simulate("s = (x * flag).sum()", inputs, "s", ranges=RANGES, policies=DEFAULTS)
    assert float(got["s"]) == pytest.approx(float((x * flag).sum()))
    flag = np.zeros(12, dtype=int)
    flag[4] = 1
    _withheld("s = (x * flag).sum()", "s", {"north": {"x": x}, "south": {"flag": flag}})


@pytest.mark.parametrize(
    "code",
    [
        "c = np.clip(x - 80, 0, 1).sum()",  # 1 for the one patient above 81
        "c = (np.sign(x - 80) + 1).sum() / 2",
        "c = np.abs(x - 80).sum()",  # its sign splits off one patient
        "c = (x / 100).round().sum()",  # a rounded value counts the patients above 50
        "c = (x / 100).astype(int).sum()",
    ],
)
def test_selections_disguised_as_clip_sign_abs_or_rounding_are_checked(code):
    _withheld(code, "c")


@pytest.mark.parametrize(
    "code",
    [
        # a steep but unsaturated function picks the one patient above 80 (95): released, the
        # sum was 95.0 (the rest add 0.003) and the statistic's mean 95.0 / 12
        "s = (x * smpc.sigmoid(0.5 * (x - 80))).sum()",
        "s = smpc.stats.mean(x * smpc.sigmoid(0.5 * (x - 80)))",
        "s = np.exp(0.5 * (x - 100)).sum()",  # e**-2.5 from the patient at 95, about 0 from the rest
        "s = np.tanh(0.5 * (x - 80)).sum()",  # -12 + 2 for each patient above 80
    ],
)
def test_a_steep_function_of_the_rows_is_a_selection_whose_weight_is_checked(code):
    """Soft selections (issue 22, the red team's limit): a nonlinear function of row data is a
    weight per row; scaled to 0..1 over its declared range, the weights must add up to min_rows
    rows in it and out of it, as a comparison's rows must (with none exempt near 0)."""
    message = _withheld(code, "s")
    assert "picks rows as a comparison does" in message


@pytest.mark.parametrize(
    "code",
    [
        # a steep polynomial written as products (x ** 16 by squaring): released 41.8, the patient
        # at 95 times 0.95 ** 16 (the rest add 0.2); with y16.sum() beside it, 95 itself
        "y = x / 100\ny2 = y * y\ny4 = y2 * y2\ny8 = y4 * y4\ny16 = y8 * y8\ns = (x * y16).sum()",
        "y = x / 100\ns = (y * y * y * y * y * y * y * y * y * y * y * y * x).sum()",
        "s = (x * x * x * x * x * x * x * x).sum()",  # released 6.95e15, 6.6e15 of it the patient at 95
        "y = x / 100\ns = smpc.stats.mean(x * (y * y) * (y * y) * (y * y) * (y * y))",
        # the red team's: a numpy integer exponent (released 0.3585: 100 * s ** (1 / 20) = 95.0003),
        # chained squares (0.4405: 95.005), and x ** np.int64(3) (its weights add up to 1.6 rows)
        "s = ((x / 100) ** np.int64(20)).sum()",
        "a = x / 100\ns = ((((a ** 2) ** 2) ** 2) ** 2).sum()",
        "s = (x ** np.int64(3)).sum()",
    ],
)
def test_a_steep_polynomial_written_as_repeated_products_is_a_selection_whose_weight_is_checked(code):
    """A product of three or more row values is checked as ``x ** 3`` is (a soft selection):
    every product that adds a factor, however the factors are grouped."""
    message = _withheld(code, "s")
    assert ("a product of" in message and "row values" in message) or "a power (" in message


@pytest.mark.parametrize(
    ("code", "reveal"),
    [
        # the red team's bumps: over a symmetric declared range every other row's weight is about
        # 0.5, so the size rule passes; released -0.2538 (the patient at 95 gives -0.25, so x = 95)
        ("s = (1 / -(4 + (x - 95) ** 2)).sum()", "s"),
        ("d = x - 94\ns1 = (1 / -(16 + d * d)).sum()\ne = x - 97\ns2 = (1 / -(16 + e * e)).sum()", "s1, s2"),
        # round 2: a secret zero with a wide public range shrank the weights' spread under a
        # fixed floor (released 0.2539: a patient at 95); the rule is now scale-free
        ("u = (x - x) / 100\ns = ((1 + 20 * u) / (4 + (x - 95) ** 2 + 0.5 * u)).sum()", "s"),
        (
            "u = (x - x) / 100\nb = 4 + (x - 95) ** 2 + 0.5 * u\n"
            "den = ((1 + 20 * u) / b).sum()\nnum = ((x / 100) * (1 + 20 * u) / b).sum()",
            "den, num",
        ),
        # products through @ (batches of 1 x 1 matrices, an outer product's diagonal): released
        # 0.3586 and 0.3407 (100 * b / a = 95.0) and the sum of cubes
        (
            "X = (x / 100).reshape(-1, 1, 1)\np = X\nfor i in range(19):\n    p = p @ X\na = p.sum()\nb = (p @ X).sum()",
            "a, b",
        ),
        (
            "c = x.reshape(-1, 1) / 100\nM = c @ c.T\nq = (M * np.eye(12)).sum(axis=1).reshape(-1, 1)\n"
            "M3 = q @ c.T\ns = (M3 * np.eye(12)).sum(axis=1).sum()",
            "s",
        ),
    ],
)
def test_a_function_that_sets_one_row_apart_from_a_flat_rest_is_withheld(code, reveal):
    """A sum is the same release as the sum of any shift of it: on either side of the weights'
    mean, the rows set apart must be min_rows rows' worth (the effective number of rows)."""
    message = _withheld(code, reveal)
    assert "apart from the rest" in message


def _cohort_with_one_at_95() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(5)
    x = np.concatenate([np.round(rng.uniform(20, 60, 99), 1), [95.0]])
    return {"north": {"x": x[:50]}, "south": {"x": x[50:]}}


@pytest.mark.parametrize(
    ("code", "small"),
    [
        # red team round 3: a dot product sums products without making them (released the sum
        # of x ** 3, 1617750, on 12 rows; and 0.4430 = mostly 0.95 ** 16 on 100 rows), and a
        # checked product squared again was degree 2 (its degree was reset when checked)
        ("s = (x * x) @ x", True),
        ("t = x / 100\nh = (t * t) * (t * t)\nk = h * h\ns = k @ k", False),
        ("g = (x - 40) * (x - 40)\ns = g @ g", False),  # released 12574570, 73% the patient's
        ("t = (x - 40) / 20\ng = 2 * t * t - 1\ns = g @ g", False),
    ],
)
def test_a_dot_product_or_a_checked_product_squared_again_is_checked_as_a_product(code, small):
    inputs = None if small else _cohort_with_one_at_95()
    with pytest.raises(DisclosureError, match="apart from the rest"):
        simulate(code, inputs or _inputs(), "s", ranges=RANGES, policies=DEFAULTS)


def test_a_matrix_product_that_sums_products_of_three_row_values_is_refused_naming_the_fix():
    """X.T @ X with a squared column sums x ** 4 and x ** 3 (released before); an ordinary Gram
    of row values (degree 2) is released."""
    with pytest.raises(SecretValueError, match=r"elementwise product and a sum"):
        simulate("X = np.column_stack([x * x, x])\ns = X.T @ X", _inputs(), "s", ranges=RANGES, policies=DEFAULTS)
    inputs = _cohort_with_one_at_95()
    x = np.concatenate([inputs["north"]["x"], inputs["south"]["x"]])
    got = simulate("X = np.column_stack([x, x / 2])\ng = X.T @ X", inputs, "g", ranges=RANGES, policies=DEFAULTS)
    assert np.asarray(got["g"])[0, 0] == pytest.approx((x * x).sum(), rel=1e-4)


def test_a_function_one_patient_dominates_is_withheld_on_a_cohort():
    """exp(x / 10) over 99 ages from 20 to 60 and one of 95: the patient at 95 gives 13,360 of
    a sum of about 23,000, so the sum is about that patient's value."""
    with pytest.raises(DisclosureError, match="apart from the rest"):
        simulate("s = np.exp(x / 10).sum()", _cohort_with_one_at_95(), "s", ranges=RANGES, policies=DEFAULTS)


def test_two_steep_functions_whose_difference_is_about_one_patient_are_withheld_together():
    """Each weighs enough rows (the values above about 45, and above about 52), but their
    difference is about the patient at 50: the nearly-equal rule holds for soft selections too."""
    code = "a = (x * smpc.sigmoid(0.5 * (x - 45))).sum()\nb = (x * smpc.sigmoid(0.5 * (x - 52))).sum()"
    _withheld(code, "a, b")


def test_gentle_functions_of_the_rows_are_released_and_right():
    """The same functions, gentle over a cohort (100 rows from 20 to 90 in 0..100), are
    released and right: the rows they set apart from the rest are many on both sides of the
    mean, wherever the values sit in their public range (1 / (x + 1) is near the bottom of its
    range for every row)."""
    rng = np.random.default_rng(11)
    x = np.round(rng.uniform(20, 90, 100), 1)
    inputs = {"north": {"x": x[:60]}, "south": {"x": x[60:]}}
    code = (
        "a = np.log(x + 1).mean()\nb = smpc.sigmoid(0.05 * (x - 50)).mean()\nc = ((x - 50) ** 2).mean()\n"
        "d = ((x / 100) ** 3).sum()\ne = np.sqrt(x).sum()\nf = (x * x * x).mean()"
    )
    code += "\ng = np.exp(x / 100).mean()\nh = np.tanh(x / 50).mean()\ni = (1 / (x + 1)).sum()"
    got = simulate(code, inputs, "a, b, c, d, e, f, g, h, i", ranges=RANGES, policies=DEFAULTS)
    assert float(got["a"]) == pytest.approx(np.log(x + 1).mean(), abs=2e-3)
    assert float(got["b"]) == pytest.approx((1 / (1 + np.exp(-0.05 * (x - 50)))).mean(), abs=2e-3)
    assert float(got["c"]) == pytest.approx(((x - 50) ** 2).mean(), rel=1e-3)
    assert float(got["d"]) == pytest.approx(((x / 100) ** 3).sum(), abs=2e-2)
    assert float(got["e"]) == pytest.approx(np.sqrt(x).sum(), rel=1e-3)
    assert float(got["f"]) == pytest.approx((x**3).mean(), rel=1e-3)
    assert float(got["g"]) == pytest.approx(np.exp(x / 100).mean(), abs=2e-3)
    assert float(got["h"]) == pytest.approx(np.tanh(x / 50).mean(), abs=2e-3)
    assert float(got["i"]) == pytest.approx((1 / (x + 1)).sum(), rel=2e-3)


def test_a_subgroup_of_three_conditions_is_checked_as_a_whole():
    """Each pair of conditions holds 3 patients, all three hold one."""
    a = np.array([1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    b = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0])
    c = np.array([1, 1, 0, 0, 0, 1, 1, 1, 0, 1, 0, 0])
    inputs = _inputs(a=a, b=b, flag=c)
    _withheld("s = (x * a * b * flag).sum()", "s", inputs)


@pytest.mark.parametrize(
    "code",
    [
        "c1 = (x > 44).sum()\nc2 = (x > 46).sum()",  # 5 and 4 patients; their difference is one
        "c1 = (x * (x > 44)).sum()\nc2 = (x * (x > 46)).sum()",  # ... whose value the difference gives
    ],
)
def test_nested_selections_that_differ_by_one_patient_are_withheld(code):
    _withheld(code, "c1, c2")


@pytest.mark.parametrize(
    "code",
    [
        "t = smpc.stats.crosstab(a, b)\nc = t.counts * 1",  # a table's counts taken out of the result
        "m = smpc.stats.mean(a * b)\nc = m * 1",
    ],
)
def test_a_statistics_rules_follow_its_fields_wherever_they_go(code):
    a = np.array([0, 0, 0, 1, 1, 0] + [1, 0, 0, 0, 1, 1])
    b = np.array([1, 0, 0, 1, 0, 0] + [0, 0, 1, 0, 0, 0])
    _withheld(code, "c", _inputs(a=a, b=b))


def test_survival_curves_counts_on_transposed_comparisons_and_kept_statistics_are_released():
    """No false alarms: a statistic's own comparisons (time points, levels) are covered by its
    declared rules; a count along the second axis is a count; nested selections far apart pass."""
    # each released count (at risk, events and censored between points, events by group) is 3+
    time = np.array([5, 8, 12, 27, 28, 29, 30, 33, 35, 52, 52, 52])
    event = np.array([1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0])
    flag = np.array([1, 1, 0, 0] * 3)  # each cell of event x flag holds 3
    code = (
        "km = smpc.stats.kaplan_meier(time, event, [26, 40])\n"
        "lr = smpc.stats.logrank(time, event, flag)\n"
        "c = (np.column_stack([x, x]).T > 35).sum(axis=1)\n"
        "c1 = (x > 20).sum()\nc2 = (x > 50).sum()"
    )
    ranges = {**RANGES, "time": (0, 60), "event": (0, 1)}
    got = simulate(
        code, _inputs(time=time, event=event, flag=flag), "km, lr, c, c1, c2", ranges=ranges, policies=DEFAULTS
    )
    x = np.concatenate([NORTH_X, SOUTH_X])
    assert np.asarray(got["c"]).tolist() == [int((x > 35).sum())] * 2
    assert int(got["c1"]) == int((x > 20).sum()) and int(got["c2"]) == int((x > 50).sum())
    assert float(np.asarray(got["km"].survival)[0]) == pytest.approx(11 / 12 * 10 / 11 * 9 / 10, abs=0.02)


def test_a_survival_curve_point_with_few_at_risk_is_withheld():
    time = np.array([5, 8, 12, 20, 26, 30, 33, 40, 45, 50, 52, 52])
    event = np.array([1, 0, 1, 1, 0, 1, 1, 0, 1, 0, 0, 0])
    ranges = {**RANGES, "time": (0, 60), "event": (0, 1)}
    with pytest.raises(DisclosureError, match="min_count"):  # 2 still at risk after week 50
        simulate(
            "km = smpc.stats.kaplan_meier(time, event, [26, 51])",
            _inputs(time=time, event=event),
            "km",
            ranges=ranges,
            policies=DEFAULTS,
        )


# ----- the red team's third round ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "code, reveal",
    [
        ("X = x[:, None]\nc1 = (X * (X > 44)).sum()\nc2 = (X * (X > 46)).sum()", "c1, c2"),  # 2-d selections
        ("c = (x[:, None] > np.arange(21, 55)[None, :]).sum(axis=0)", "c"),  # every threshold at once
        ("c = np.stack([(x > t).sum() * 2 for t in [40, 42, 44, 46]])", "c"),  # scaled counts in a loop
        ("g1 = smpc.stats.group_mean(x, by=(x > 44))\ng2 = smpc.stats.group_mean(x, by=(x > 46))", "g1, g2"),
        ("g1 = smpc.stats.group_mean(x, by=(x > 44))\nc2 = (x > 46).sum()", "g1, c2"),
        ("t1 = smpc.stats.crosstab(x > 44, x > 20)\nt2 = smpc.stats.crosstab(x > 46, x > 20)", "t1, t2"),
    ],
)
def test_nearly_equal_selections_across_statistics_and_columns_are_withheld(code, reveal):
    _withheld(code, reveal)


@pytest.mark.parametrize(
    "code",
    [
        "r = np.sqrt(x - 80)\nc = (r * r).sum()",  # sqrt of a negative value is 0: an exact step
        "r = np.sqrt(x - 80)\nc = (x * r).sum()",  # (x * (r / r) is refused for its precision first)
        "c = smpc.sigmoid((x - 80) * 100).sum()",  # saturation is an exact step
        "c = (x * np.tanh((x - 80) * 10)).sum()",
    ],
)
def test_exact_steps_inside_functions_are_selections(code):
    _withheld(code, "c")


@pytest.mark.parametrize(
    "code",
    [
        "y = np.stack([x.sum(), (x * np.array([0.0] + [1.0] * 5 + [0.0] + [1.0] * 5)).sum()])",
        "y = np.stack([x.sum(), x[1:].sum()])",
    ],
)
def test_sums_stacked_into_one_release_are_checked_together(code):
    message = _withheld(code, "y", policies={"north": {"per_site": True}, "south": {"per_site": True}})
    assert "min_rows" in message


def test_a_public_offset_is_not_a_weight_but_an_offset_that_differs_by_row_is():
    """No false alarm for x - 50 (the sum of x + c is the sum of x plus n c); an addend that
    differs by row weighs rows once multiplied ((x + w) * x sums x**2 + w x), so it is withheld."""
    got = simulate("s = ((x - 50) * (x - 50)).sum()", _inputs(), "s", ranges=RANGES, policies=DEFAULTS)
    x = np.concatenate([NORTH_X, SOUTH_X])
    assert float(got["s"]) == pytest.approx(((x - 50) ** 2).sum(), rel=1e-5)
    w = "np.array([1.0] + [0.0] * 11)"
    _withheld(f"s1 = (x * (x + {w})).sum()\ns2 = (x * x).sum()", "s1, s2")
    _withheld(f"m1 = smpc.stats.mean(x * (x + {w}))\nm2 = smpc.stats.mean(x * x)", "m1, m2")


# ----- the red team's fourth round -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "code, reveal",
    [
        ("v = (np.argmax(np.column_stack([x * 0 + 94, x]), axis=1) * x).sum()", "v"),  # a row-wise argmax
        ("c = np.argmax(np.column_stack([x * 0 + 94, x]), axis=1).sum()", "c"),
        ("h = np.max(np.column_stack([x, x * 0 + 94]), axis=1).sum()", "h"),
        ("r = smpc.stats.incidence_rate(x * (x > 94), x * 0 + 1.0, per=1.0)", "r"),  # a statistic's input
        ("r = smpc.stats.incidence_rate((x > 94) * 3, x * 0 + 1.0, per=1.0)", "r"),
        ("r = smpc.stats.incidence_rate(x < 94, x * 0 + 1.0, per=1.0)", "r"),  # its complement
        ("km = smpc.stats.kaplan_meier(x, (x > 94) * 3, [10])", "km"),
        ("rr = smpc.stats.rate_ratio(x * 0 + 3, x * 0 + 1.0, x > 94)", "rr"),
        ("t = smpc.stats.crosstab(np.column_stack([(x > 94) * 3, x * 0 + 1]), x > 30)", "t"),
        ("km = smpc.stats.kaplan_meier(x, x > 200, [44, 46, 48])", "km"),  # one censored between points
    ],
)
def test_selections_through_row_maxima_and_statistics_inputs_are_checked(code, reveal):
    _withheld(code, reveal)


# ----- secret row filters (frame[mask], x[mask]) ---------------------------------------------------------
@pytest.mark.parametrize(
    "code, reveal",
    [
        ("m = smpc.stats.mean(x[x > 94])", "m"),  # a filter of one patient
        ("s = x[x > 94].sum()", "s"),
        ("m = smpc.stats.mean(x[x < 94])", "m"),  # its complement is one patient
        ("m1 = smpc.stats.mean(x[x > 44])\nm2 = smpc.stats.mean(x[x > 46])", "m1, m2"),  # nearly equal filters
        ("r = smpc.stats.incidence_rate((x > 0)[x > 94], (x * 0 + 1.0)[x > 94], per=1.0)", "r"),
        ("km = smpc.stats.kaplan_meier(x[x > 94], (x > 0)[x > 94], [50])", "km"),
        ("d = smpc.stats.describe([x[x > 94]])", "d"),
        ("q = smpc.stats.quantile(x, 1.0)", "q"),  # a maximum is one patient's value
        ("q = smpc.stats.quantile(x, [0.5, 0.01])", "q"),  # a low quantile: one row below it
        ("q = smpc.stats.median(x[x > 50])", "q"),  # a median of too few rows
        ("q = smpc.stats.median(x[:6])", "q"),  # one site's rows (per_site refused)
        ("q = smpc.stats.median(x * np.array([1.0] * 6 + [0.0] * 6))", "q"),  # the same, by public weights
        ("km = smpc.stats.kaplan_meier(x[:6], (x > 0)[:6], [30])", "km"),  # sorted rows of one site
        ("lr = smpc.stats.logrank(x[:6], (x > 0)[:6], (x > 30)[:6])", "lr"),
    ],
)
def test_a_secret_row_filter_is_a_selection_checked_like_any_other(code, reveal):
    _withheld(code, reveal)


def test_a_broad_secret_row_filter_releases_the_statistic_of_its_rows():
    cell = "m = smpc.stats.mean(x[x > 30])\nq = smpc.stats.median(x)"
    got = simulate(cell, _inputs(), "m, q", ranges=RANGES, policies=DEFAULTS)
    x = np.concatenate([NORTH_X, SOUTH_X])
    assert float(got["m"]) == pytest.approx(x[x > 30].mean(), abs=1e-3)
    assert float(got["q"]) == pytest.approx(np.median(x), abs=1e-3)


# ----- the red team's fifth round: times and covariates whose order or groups are public -----------------
@pytest.mark.parametrize(
    "code, reveal",
    [
        ("t = x * 0 + np.arange(12.0)\nlr = smpc.stats.logrank(t, x > 0, x > 35)", "lr"),  # a known order
        ("km = smpc.stats.kaplan_meier(x * 0 + 5, (x > 94) * 3, [10])", "km"),  # public times
        ("t = x * 0.001 + np.arange(12.0)\nlr = smpc.stats.logrank(t, x > 0, x > 35)", "lr"),  # dominated by it
        ("lr = smpc.stats.logrank(x + np.array([0.0] * 6 + [1000.0] * 6), x > 0, x > 35)", "lr"),
        ("t = x * 0 + np.arange(12.0)\nkm = smpc.stats.kaplan_meier(t, x > 35, [5.5, 11.5])", "km"),
        ("t = x * 0 + np.array([0.0] * 6 + [20.0] * 6)\nkm = smpc.stats.kaplan_meier(t, x > 35, [10])", "km"),
        ("fit = smpc.stats.poisson(x * 0 + np.array([0.0] * 6 + [1.0] * 6), (x > 30) * 1, x * 0 + 1.0)", "fit"),
    ],
)
def test_statistics_refuse_public_orders_and_public_labels_per_row(code, reveal):
    with pytest.raises((SecretValueError, DisclosureError)) as caught:
        simulate(code, _inputs(), reveal, ranges=RANGES, policies=DEFAULTS)
    for value in [*NORTH_X, *SOUTH_X]:
        assert f" {value:g} " not in str(caught.value)
