"""smpc.stats.envelope: public ranges from the pooled rows, governed like any release, taking
only the private inputs as shared (with real party processes)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smpc_magic import simulate
from smpc_magic.errors import DisclosureError, PrecisionError, RangeRequiredError, SecretValueError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

DEFAULTS = {"north": {}, "south": {}}


def _sites() -> dict[str, dict[str, pd.DataFrame]]:
    rng = np.random.default_rng(5)  # (test data only)

    def frame(n: int) -> pd.DataFrame:
        return pd.DataFrame(
            {"age": rng.integers(18, 96, n), "cost": rng.gamma(2.0, 900, n).round(2), "change": rng.normal(0, 3, n)}
        )

    return {"north": {"d": frame(40)}, "south": {"d": frame(50)}}


def test_an_envelope_gives_ranges_that_hold_the_data_and_make_statistics_possible():
    sites = _sites()
    pooled = pd.concat([s["d"] for s in sites.values()], ignore_index=True)
    with pytest.raises((RangeRequiredError, PrecisionError), match="[Dd]eclare"):  # without ranges: refused
        simulate("s = smpc.stats.std(d[['age', 'cost']])", sites, "s")
    env = simulate("env = smpc.stats.envelope(d)", sites, "env", policies=DEFAULTS)["env"]
    ranges = dict(env)
    assert set(ranges) == {"age", "cost", "change"}
    for column, (lo, hi) in ranges.items():
        values = pooled[column]
        assert lo <= values.min() and values.max() <= hi  # it holds every value
        assert hi == 16 or values.max() > hi / 2 - 1e-3  # the power of two just above the largest (or 16)
        assert lo in (0, -16) or values.min() < lo / 2 + 1e-3
    assert ranges["age"] == (0.0, 128.0) and ranges["cost"][0] == 0.0 and ranges["change"][0] < 0
    got = simulate("s = smpc.stats.std(d[['age', 'cost', 'change']])", sites, "s", ranges=env)["s"]
    np.testing.assert_allclose(got, pooled[["age", "cost", "change"]].std(), rtol=1e-4)


def test_a_custodian_can_refuse_envelopes():
    with pytest.raises(DisclosureError, match="envelopes"):
        simulate(
            "env = smpc.stats.envelope(d)",
            _sites(),
            "env",
            policies={"north": {}, "south": {"envelopes": False}},
        )


@pytest.mark.parametrize(
    "cell",
    [
        "env = smpc.stats.envelope(d['cost'] * (d['age'] > 80))",  # would ask about chosen rows
        "env = smpc.stats.envelope(d[d['age'] > 80])",  # a secret filter
        "c = d['cost']\nenv = smpc.stats.envelope(c[1:])",  # a slice: all but the first row
        "c = d['cost']\nc[0] = 0\nenv = smpc.stats.envelope(c)",  # modified in place
        "env = smpc.stats.envelope(d['cost'] + 0)",
    ],
)
def test_an_envelope_takes_only_the_inputs_as_shared(cell):
    with pytest.raises(SecretValueError, match="as they were shared"):
        simulate(cell, _sites(), "env", policies=DEFAULTS)


def test_a_column_one_site_holds_alone_gives_a_per_site_envelope():
    """Columns of the same patients at two sites: north's ages, south's costs. Each column's
    envelope is about one site's data, refused where per-site values are."""
    rng = np.random.default_rng(6)  # (test data only)
    inputs = {"north": {"age": rng.integers(18, 96, 30)}, "south": {"cost": rng.gamma(2.0, 900, 30).round(2)}}
    with pytest.raises(DisclosureError, match="per_site"):
        simulate(
            "env = smpc.stats.envelope(age)\nenv2 = smpc.stats.envelope(cost)", inputs, "env env2", policies=DEFAULTS
        )
    both = "env = smpc.stats.envelope(np.column_stack([age, cost]))"  # (a derived matrix: refused anyway)
    with pytest.raises((SecretValueError, DisclosureError)):
        simulate(both, inputs, "env", policies=DEFAULTS)
    allowed = {"north": {"per_site": True}, "south": {"per_site": True}}
    env = simulate("env = smpc.stats.envelope(age)", inputs, "env", policies=allowed)["env"]
    assert dict(env) == {"age": (0.0, 128.0)}


def test_a_0_1_column_gives_the_same_envelope_whatever_its_count_and_a_declared_one_none():
    """[0, 0] against [0, 1] would say whether anyone has the condition (a count of 1 or 2 that
    min_count hides): every column's envelope reaches at least 16."""
    for flags in ([0, 0, 0, 0, 0], [0, 0, 0, 1, 0]):
        inputs = {"north": {"hiv": np.array(flags)}, "south": {"hiv": np.zeros(5, dtype=int)}}
        env = simulate("env = smpc.stats.envelope(hiv)", inputs, "env", policies=DEFAULTS)["env"]
        assert dict(env) == {"hiv": (0.0, 16.0)}
    inputs = {"north": {"hiv": np.array([0, 1, 0])}, "south": {"hiv": np.array([1, 0, 0])}}
    with pytest.raises(SecretValueError, match="declared ranges already"):
        simulate("env = smpc.stats.envelope(hiv)", inputs, "env", ranges={"hiv": (0, 1)}, policies=DEFAULTS)
