"""Disclosure control on pooled results, with real party processes: each rule is checked
securely on the pooled data (only a pass/fail bit is opened) and a failing release is withheld
at every site, with nothing else of the cell released."""

import numpy as np
import pytest

from smpc_magic import simulate
from smpc_magic.errors import DisclosureError, PolicyError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

DEFAULTS = {"north": {}, "south": {}}  # both custodians keep the documented defaults
BINARY = {"a": (0, 1), "b": (0, 1)}
TABLE = "t = smpc.stats.crosstab(a, b)\nn = a.shape[0]"


def table_rows(pairs: dict[tuple[int, int], int]) -> dict[str, np.ndarray]:
    a = np.concatenate([np.full(k, i) for (i, _), k in pairs.items()])
    b = np.concatenate([np.full(k, j) for (_, j), k in pairs.items()])
    return {"a": a, "b": b}


def test_a_pooled_cell_of_two_is_withheld_though_no_site_can_see_it():
    # north and south hold one row each in cell (1, 1): pooled, that cell is 2 < 3
    rows = table_rows({(0, 0): 6, (0, 1): 5, (1, 0): 4, (1, 1): 1})
    with pytest.raises(DisclosureError) as caught:
        simulate(TABLE, {"north": rows, "south": rows}, "t, n", ranges=BINARY, policies=DEFAULTS)
    message = str(caught.value)
    assert "'t' failed the min_count" in message and "Nothing of this cell was released" in message
    assert "below 3" in message and " 2 " not in message  # the rule, never the count


def test_a_single_row_at_one_site_is_released_when_the_pooled_cell_is_large():
    north = table_rows({(0, 0): 6, (0, 1): 5, (1, 0): 4, (1, 1): 1})  # one row in (1, 1) here
    south = table_rows({(0, 0): 7, (0, 1): 3, (1, 0): 5, (1, 1): 6})
    got = simulate(TABLE, {"north": north, "south": south}, "t", ranges=BINARY, policies=DEFAULTS)
    np.testing.assert_array_equal(np.round(got["t"].counts), [[13, 8], [9, 7]])


def test_the_strictest_policy_wins():
    rows = table_rows({(0, 0): 6, (0, 1): 5, (1, 0): 4, (1, 1): 4})  # pooled cells 8..12
    inputs = {"north": rows, "south": rows}
    assert simulate(TABLE, inputs, "t", ranges=BINARY, policies={"north": {"min_count": 5}})["t"].has("counts")
    with pytest.raises(DisclosureError, match="below 10"):
        simulate(TABLE, inputs, "t", ranges=BINARY, policies={"north": {"min_count": 5}, "south": {"min_count": 10}})


def test_a_mean_over_too_few_pooled_rows_is_withheld_whether_the_rows_are_public_or_a_secret_subset():
    few = {"north": {"x": np.array([50.0, 61.0])}, "south": {"x": np.array([70.0])}}
    with pytest.raises(DisclosureError, match="'m' failed the min_rows rule"):
        simulate("m = smpc.stats.mean(x)", few, "m", ranges={"x": (0, 100)}, policies={"north": {"min_rows": 5}})
    # by group: the group sizes are secret, so is the check; an empty group is fine
    x = np.arange(20.0)
    group = np.array([1, 1] + [0] * 18)  # two pooled rows in group 1
    code = "g = smpc.stats.group_mean(x, by=np.column_stack([1 - grp, grp]))"
    inputs = {"north": {"x": x[:10], "grp": group[:10]}, "south": {"x": x[10:], "grp": group[10:]}}
    ranges = {"x": (0, 20), "grp": (0, 1)}
    with pytest.raises(DisclosureError, match="'g' failed the (min_count or )?min_rows rule"):
        simulate(code, inputs, "g", ranges=ranges, policies=DEFAULTS)
    # with five pooled rows in the smaller group, the means are released
    group = np.array([1] * 5 + [0] * 15)
    inputs = {"north": {"x": x[:10], "grp": group[:10]}, "south": {"x": x[10:], "grp": group[10:]}}
    got = simulate(code, inputs, "g", ranges=ranges, policies=DEFAULTS)["g"]
    np.testing.assert_allclose(np.asarray(got.mean).ravel(), [x[5:].mean(), x[:5].mean()], atol=1e-3)


def test_row_level_values_and_own_counts_are_refused_by_default():
    x = {"north": {"x": np.arange(5.0)}, "south": {"x": np.arange(5.0, 10.0)}}
    ranges = {"x": (0, 10)}
    with pytest.raises(DisclosureError, match="'y' failed the row_level rule"):
        simulate("y = x * 2", x, "y", ranges=ranges, policies=DEFAULTS)
    assert len(simulate("y = x * 2", x, "y", ranges=ranges, policies={"north": {"row_level": True}})["y"]) == 10
    with pytest.raises(DisclosureError, match="'old' failed the min_count rule"):
        simulate("old = (x > 7.5).sum()", x, "old", ranges=ranges, policies=DEFAULTS)  # 2 patients
    got = simulate("old = (x > 4.5).sum()\ns = x.sum()", x, "old, s", ranges=ranges, policies=DEFAULTS)
    assert got["old"] == 5 and got["s"] == 45
    with pytest.raises(DisclosureError, match="'d' failed the row_level rule"):  # a minimum is one patient's value
        simulate("d = smpc.stats.describe(np.column_stack([x]))", x, "d", ranges=ranges, policies=DEFAULTS)


def test_only_statistics_withholds_what_the_cell_computed_itself():
    x = {"north": {"x": np.arange(5.0)}, "south": {"x": np.arange(5.0, 10.0)}}
    policy = {"north": {"only_statistics": True}}
    with pytest.raises(DisclosureError, match="'s' failed the only_statistics rule"):
        simulate("s = x.sum()\nm = smpc.stats.mean(x)", x, "s, m", ranges={"x": (0, 10)}, policies=policy)
    got = simulate("m = smpc.stats.mean(x)", x, "m", ranges={"x": (0, 10)}, policies=policy)
    assert abs(float(got["m"]) - 4.5) < 1e-3


def test_too_many_parameters_for_the_rows_and_a_dominant_contribution():
    rng = np.random.default_rng(3)
    X, y = rng.normal(50, 5, (16, 3)).round(1), rng.normal(10, 2, 16).round(1)
    inputs = {"north": {"X": X[:8], "y": y[:8]}, "south": {"X": X[8:], "y": y[8:]}}
    ranges = {"X": (0, 100), "y": (0, 30)}
    with pytest.raises(DisclosureError, match="'fit' failed the max_parameter_ratio rule"):  # 4 > 0.2 x 16
        simulate(
            "fit = smpc.stats.ols(X, y)", inputs, "fit", ranges=ranges, policies={"north": {"max_parameter_ratio": 0.2}}
        )
    fit = simulate("fit = smpc.stats.ols(X, y)", inputs, "fit", ranges=ranges, policies=DEFAULTS)["fit"]
    assert fit.has("coef", "se")  # 4 <= 0.33 x 16
    costs = {"north": {"c": np.array([100.0, 120, 90, 5000])}, "south": {"c": np.array([80.0, 110, 95])}}
    policy = {"south": {"dominance_share": 0.9, "dominance_k": 1}}
    with pytest.raises(DisclosureError, match="'m' failed the dominance rule"):
        simulate("m = smpc.stats.mean(c)", costs, "m", ranges={"c": (0, 10000)}, policies=policy)
    costs["north"]["c"][3] = 150.0
    got = simulate("m = smpc.stats.mean(c)", costs, "m", ranges={"c": (0, 10000)}, policies=policy)
    assert abs(float(got["m"]) - np.mean([100, 120, 90, 150, 80, 110, 95])) < 1e-2


def test_recipients_rows_per_site_and_per_site_values_are_refused_before_anything_is_shared():
    x = {"north": {"x": np.arange(5.0)}, "south": {"x": np.arange(5.0, 7.0)}}
    ranges = {"x": (0, 10)}
    with pytest.raises(PolicyError, match="does not allow 'south' to receive"):
        simulate("s = x.sum()", x, "s", to=["south"], ranges=ranges, policies={"north": {"recipients": ["north"]}})
    with pytest.raises(PolicyError, match="site 'south' provides 2 rows of 'x'"):
        simulate("s = x.sum()", x, "s", ranges=ranges, policies={"north": {"min_rows_per_site": 3}})
    only_north = {"north": {"x": np.arange(5.0), "z": np.arange(5.0)}, "south": {"x": np.arange(5.0, 10.0)}}
    with pytest.raises(DisclosureError, match="from the data of site 'north' alone"):
        simulate("s = z.sum()", only_north, "s", ranges={**ranges, "z": (0, 10)}, policies=DEFAULTS)
    # columns split across sites (north's z, south's w): not one site's values, but south chose
    # its factor for north's rows (a one-hot column would read a patient), so each row stands alone
    split = {"north": {"z": np.arange(5.0)}, "south": {"w": np.arange(5.0, 10.0)}}
    with pytest.raises(DisclosureError, match="min_rows"):
        simulate("s = (z * w).sum()", split, "s", ranges={"z": (0, 10), "w": (0, 10)}, policies=DEFAULTS)
