"""Private rows read in blocks (``smpc_magic.rows``) with real party processes: each site reads
a pandas frame, a memory-mapped numpy file or a parquet file block by block, and the pooled
statistics equal those computed from rows shared in full (and statsmodels')."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from smpc_magic import rows, simulate
from smpc_magic.errors import MissingValuesError, PartyFailed, SchemaError, StreamedRowsError
from smpc_magic.sources import from_spec

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

RANGES = {"age": (18.0, 100.0), "bmi": (10.0, 60.0), "cost": (0.0, 50000.0)}


def cohort(seed, n):
    rng = np.random.default_rng(seed)  # synthetic test data, not shares
    age = rng.uniform(18, 100, n)
    bmi = rng.uniform(10, 60, n)
    cost = np.clip(2000 + 150 * age + 80 * bmi + rng.normal(0, 3000, n), 0, 50000)
    smoker = rng.random(n) < 0.3
    return pd.DataFrame({"age": age, "bmi": bmi, "cost": cost, "smoker": smoker})


@pytest.fixture(scope="module")
def three_sites(tmp_path_factory):
    """One site's rows in memory, one in a memory-mapped .npy file, one in a parquet file."""
    directory = tmp_path_factory.mktemp("rows")
    frames = [cohort(1, 3000), cohort(2, 2500), cohort(3, 3500)]
    npy = directory / "south.npy"
    np.save(npy, frames[1].to_numpy(dtype=np.float64))
    parquet = directory / "west.parquet"
    frames[2].to_parquet(parquet, row_group_size=1000)
    sources = {
        "north": rows(frames[0], ranges=RANGES, block_rows=700),
        # a float array: its 0/1 column needs a range too
        "south": rows(npy, columns=list(frames[1].columns), ranges={**RANGES, "smoker": (0, 1)}, block_rows=900),
        "west": rows(parquet, ranges=RANGES, block_rows=800),
    }
    return frames, sources


def test_blocks_cover_every_row_once_and_reopen_from_their_spec(three_sites, tmp_path):
    frames, sources = three_sites
    for frame, source in zip(frames, sources.values()):
        again = from_spec(source.spec(tmp_path, "x"))
        for each in (source, again):
            blocks = list(each.blocks(["age", "smoker"]))
            assert all(len(b) <= each.block_rows for b in blocks) and len(blocks) > 1
            joined = pd.concat(blocks, ignore_index=True)
            assert np.array_equal(joined["age"].to_numpy(), frame["age"].to_numpy())
            assert np.array_equal(joined["smoker"].astype(bool).to_numpy(), frame["smoker"].to_numpy())
        assert again.ranges == source.ranges and len(again) == len(frame)


def test_statistics_of_rows_read_in_blocks_match_shared_rows_and_statsmodels(three_sites):
    frames, sources = three_sites
    pooled = pd.concat(frames, ignore_index=True)
    cell = """
fit = smpc.stats.ols(d[["age", "bmi"]], d["cost"])
m = smpc.stats.mean(d[["age", "cost"]])
v = smpc.stats.var(d["cost"])
c = smpc.stats.corr(d[["age", "bmi", "cost"]])
t = smpc.stats.crosstab(d["smoker"], d["smoker"])
s = d["smoker"].sum()
table = smpc.stats.describe(d[["age", "cost"]])
"""
    streamed = simulate(cell, {p: {"d": src} for p, src in sources.items()}, "fit, m, v, c, t, s, table", timeout=60)
    shared_inputs = {p: {"d": f} for p, f in zip(sources, frames)}
    shared = simulate(cell, shared_inputs, "fit, m, v, c, t, s", ranges={**RANGES, "smoker": (0, 1)}, timeout=60)
    ref = sm.OLS(pooled["cost"], sm.add_constant(pooled[["age", "bmi"]])).fit()
    fit = streamed["fit"]
    assert fit.n == len(pooled) and list(fit.names) == ["const", "age", "bmi"]
    assert np.all(np.abs(fit.coef - ref.params.to_numpy()) < 0.01 * ref.bse.to_numpy())
    assert np.all(np.abs(fit.se / ref.bse.to_numpy() - 1) < 1e-2)
    assert np.all(np.abs(fit.coef - shared["fit"].coef) < 0.01 * ref.bse.to_numpy())
    assert np.allclose(streamed["m"], pooled[["age", "cost"]].mean().to_numpy(), rtol=1e-6)
    assert abs(streamed["v"] / pooled["cost"].var() - 1) < 1e-4
    assert np.allclose(streamed["c"], pooled[["age", "bmi", "cost"]].corr().to_numpy(), atol=1e-4)
    smokers = int(pooled["smoker"].sum())
    assert int(streamed["s"]) == smokers == int(shared["s"])  # exact
    assert np.array_equal(streamed["t"].counts, [[len(pooled) - smokers, 0], [0, smokers]])
    table, plain = streamed["table"], pooled[["age", "cost"]]
    assert table.n == len(pooled) and list(table.names) == ["age", "cost"]
    assert np.allclose(table.min, plain.min().to_numpy(), atol=2e-5)  # the fixed-point grid
    assert np.allclose(table.max, plain.max().to_numpy(), atol=2e-5)
    assert np.allclose(table.std, plain.std().to_numpy(), rtol=1e-4)


def test_row_level_operations_on_rows_read_in_blocks_are_refused_clearly(three_sites):
    _, sources = three_sites
    inputs = {p: {"d": src} for p, src in sources.items()}
    with pytest.raises(StreamedRowsError, match="read in row blocks.*aggregates"):
        simulate("x = d['age'] * 2", inputs, "x", timeout=30)
    with pytest.raises(StreamedRowsError, match="smpc.stats.logit.*needs the rows themselves"):
        simulate("fit = smpc.stats.logit(d[['age']], d['smoker'])", inputs, "fit", timeout=30)


def test_a_value_outside_its_range_in_a_later_block_stops_the_cell_and_names_the_column(tmp_path):
    frames = [cohort(4, 1000), cohort(5, 1000)]
    frames[1].loc[950, "bmi"] = 75.0  # in the second block of 500
    inputs = {p: {"d": rows(f, ranges=RANGES, block_rows=500)} for p, f in zip(["north", "south"], frames)}
    with pytest.raises((SchemaError, PartyFailed), match="'bmi'.*outside its declared range"):
        simulate("m = smpc.stats.mean(d['bmi'])", inputs, "m", timeout=30)


def test_a_numeric_column_without_a_range_is_refused_before_anything_is_shared():
    inputs = {p: {"d": rows(cohort(6, 200))} for p in ["north", "south"]}
    with pytest.raises(SchemaError, match="'age' of private rows 'd' has no declared range"):
        simulate("m = smpc.stats.mean(d['age'])", inputs, "m", timeout=30)


def test_a_variable_that_may_be_missing_is_refused_by_statistics_of_rows_read_in_blocks(tmp_path):
    schema = tmp_path / "cohort.toml"
    schema.write_text(
        '[study]\nname = "c"\n\n[[variable]]\nname = "age"\nkind = "continuous"\nmin = 18\nmax = 100\n\n'
        '[[variable]]\nname = "bmi"\nkind = "continuous"\nmin = 10\nmax = 60\nmissing = true\n'
    )
    frames = [cohort(7, 300)[["age", "bmi"]], cohort(8, 300)[["age", "bmi"]]]
    frames[0].loc[5, "bmi"] = np.nan
    inputs = {p: {"d": rows(f, block_rows=100)} for p, f in zip(["north", "south"], frames)}
    with pytest.raises(MissingValuesError, match="'bmi' may be missing"):  # (it would count as 0)
        simulate("m = smpc.stats.mean(d['bmi'])", inputs, "m", schema=str(schema), timeout=60)
    # a column that may not be missing still works
    got = simulate("m = smpc.stats.mean(d['age'])", inputs, "m", schema=str(schema), timeout=60)
    assert float(got["m"]) == pytest.approx(pd.concat(frames)["age"].mean(), abs=1e-3)
