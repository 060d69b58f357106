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
        assert hi == 0 or values.max() > hi / 2 - 1e-3  # the power of two just above the largest
        assert lo == 0 or values.min() < lo / 2 + 1e-3
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
    with pytest.raises(SecretValueError):
        simulate(both, inputs, "env", policies=DEFAULTS)
    allowed = {"north": {"per_site": True}, "south": {"per_site": True}}
    env = simulate("env = smpc.stats.envelope(age)", inputs, "env", policies=allowed)["env"]
    assert dict(env) == {"age": (0.0, 128.0)}
