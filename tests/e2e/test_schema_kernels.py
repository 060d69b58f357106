"""End to end with a study schema: three real kernels; data is checked when marked private and
again when a cell uses it, and a violation at one site stops the cell at every site."""

import pytest

from kernel_bridge.session import new_session
from tests.e2e.kernels import Site, run_all
from tests.support.processes import dealer_process
from tests.support.schemas import COHORT_SCHEMA

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

NAMES = ["site_a", "site_b", "site_c"]
SCHEMA = COHORT_SCHEMA
FRAME = "import pandas as pd\ncohort = pd.DataFrame({{'age': {ages}, 'sex': ['female', 'male', 'female']}})"
CELL = "%%smpc --reveal women mean_age\nwomen = cohort['sex=female'].sum()\nmean_age = cohort['age'].mean()"


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    directory = tmp_path_factory.mktemp("schema-study")
    (directory / "cohort.toml").write_text(SCHEMA)
    session = new_session(NAMES, directory, timeout=15, schema=directory / "cohort.toml")
    with dealer_process(session):
        sites = [Site(name, directory) for name in NAMES]
        try:
            connect = [f"%load_ext smpc_magic\n%smpc connect {session} --as {name}" for name in NAMES]
            assert all(r.ok for r in run_all(sites, connect))
            yield sites
        finally:
            for site in sites:
                site.close()


def test_schema_checks_at_marking_and_at_every_site_before_anything_is_shared(sites):
    frames = [FRAME.format(ages=[30 + k, 40 + k, 50 + k]) + "\n%smpc private cohort" for k in range(3)]
    assert all(r.ok for r in run_all(sites, frames))
    results = run_all(sites, CELL)
    assert all(r.ok for r in results), [r.error for r in results]
    assert float(sites[0].run("print(women)").text) == 6
    # marking data that breaks the schema is refused at once, at that site only
    bad = sites[1].run(FRAME.format(ages=[30, 400, 50]).replace("cohort =", "other =") + "\n%smpc private other")
    assert not bad.ok and "outside the declared range [18, 110]" in bad.error and "first rows: 1" in bad.error
    assert "other" not in sites[1].run("%smpc private").text  # not marked
    # data changed after marking is checked again when a cell uses it: every site stops
    sites[1].run("cohort.loc[2, 'age'] = 7")
    results = run_all(sites, CELL)
    assert all(not r.ok for r in results)
    for r in (results[0], results[2]):
        assert "'site_b'" in r.error and "cohort/age" in r.error and "nothing was shared" in r.error
        assert " 7" not in r.error
    assert results[1].ename == "SchemaError" and "the private data of site 'site_b'" in results[1].error
    # the kernels stay usable
    sites[1].run("cohort.loc[2, 'age'] = 70")
    final = run_all(sites, CELL)
    assert all(r.ok for r in final), [r.error for r in final]


def test_a_site_declares_the_range_of_a_plain_array_when_marking_it(tmp_path):
    """Without a study schema, `%smpc private NAME --range MIN MAX` gives an array its public
    range: products then know their size instead of refusing at the encoding limit."""
    names = ["site_a", "site_b"]
    session = new_session(names, tmp_path, timeout=15)
    with dealer_process(session):
        pair = [Site(name, tmp_path) for name in names]
        try:
            connect = [f"%load_ext smpc_magic\n%smpc connect {session} --as {name}" for name in names]
            assert all(r.ok for r in run_all(pair, connect))
            data = [f"import numpy as np\ncost = np.array([{k}200.5, 950.0, 15.25])" for k in range(2)]
            assert all(r.ok for r in run_all(pair, [d + "\n%smpc private cost" for d in data]))
            cell = "%%smpc --reveal squares\nsquares = (cost * cost).sum()"
            refused = run_all(pair, cell)
            assert all(
                r.ename == "RangeRequiredError" and "%smpc private cost --range MIN MAX" in r.error for r in refused
            )
            bad = pair[1].run("%smpc private cost --range 0 1000")  # site_b holds 1200.5
            assert not bad.ok and "outside the declared range [0, 1000]" in bad.error and "first rows: 0" in bad.error
            marked = run_all(pair, "%smpc private cost --range 0 5000")
            assert all(r.ok and "cost in [0, 5000]" in r.text for r in marked), [r.error for r in marked]
            results = run_all(pair, cell)
            assert all(r.ok for r in results), [r.error for r in results]
            expected = sum(v * v for v in (200.5, 950.0, 15.25, 1200.5, 950.0, 15.25))
            assert float(pair[1].run("print(squares)").text) == pytest.approx(expected, rel=1e-6)
        finally:
            for site in pair:
                site.close()


def test_a_released_envelope_gives_a_frames_ranges_when_marking_it(tmp_path):
    """No schema, no guessed range: the sites release a coarse envelope of their frame (governed
    like any release), then mark the frame again with its ranges; statistics then work."""
    names = ["site_a", "site_b"]
    session = new_session(names, tmp_path, timeout=15)
    with dealer_process(session):
        pair = [Site(name, tmp_path) for name in names]
        try:
            connect = [f"%load_ext smpc_magic\n%smpc connect {session} --as {name}" for name in names]
            assert all(r.ok for r in run_all(pair, connect))
            frames = [
                f"import pandas as pd\ncohort = pd.DataFrame({{'age': [{30 + k}, 47, 61, 75], "
                f"'cost': [{k}210.5, 950.0, 15.25, 3000.0]}})\n%smpc private cohort"
                for k in range(2)
            ]
            assert all(r.ok for r in run_all(pair, frames))
            cell = "%%smpc --reveal s\ns = smpc.stats.std(cohort)"
            assert all(not r.ok and "eclare" in r.error for r in run_all(pair, cell))
            released = run_all(pair, "%%smpc --reveal env\nenv = smpc.stats.envelope(cohort)")
            assert all(r.ok for r in released), [r.error for r in released]
            marked = run_all(pair, "%smpc private cohort --ranges-from env")
            assert all(r.ok and "cohort (ranges of age, cost)" in r.text for r in marked), [r.error for r in marked]
            assert pair[0].run("print(env.ranges()['age'])").text.strip() == "(0.0, 128.0)"
            results = run_all(pair, cell)
            assert all(r.ok for r in results), [r.error for r in results]
            got = [float(v) for v in pair[1].run("print(*s)").text.split()]
            import numpy as np

            ages, costs = [30, 47, 61, 75, 31, 47, 61, 75], [210.5, 950.0, 15.25, 3000.0, 1210.5, 950.0, 15.25, 3000.0]
            assert got == pytest.approx([np.std(ages, ddof=1), np.std(costs, ddof=1)], rel=1e-4)
        finally:
            for site in pair:
                site.close()


ROWS = (
    "import numpy as np, pandas as pd, smpc_magic\n"
    "rng = np.random.default_rng({seed})\n"
    "frame = pd.DataFrame({{'age': rng.integers(18, 111, 5000), 'sex': rng.choice(['female', 'male'], 5000)}})\n"
    "frame.to_parquet({path!r}, row_group_size=1000)\n"
    "registry = smpc_magic.rows({path!r}, block_rows=1000)\n"
    "%smpc private registry"
)
ROWS_CELL = (
    "%%smpc --reveal women mean_age table\n"
    "women = registry['sex=female'].sum()\n"
    "mean_age = smpc.stats.mean(registry['age'])\n"
    "table = smpc.stats.crosstab(registry.categorical('sex'), registry.categorical('sex'))"
)


def test_rows_read_in_blocks_at_each_site_with_the_study_schema(sites, tmp_path):
    """A parquet file per site, marked private as rows read in blocks: the schema's categorical
    levels become 0/1 columns block by block, and the pooled results equal the plaintext ones."""
    paths = [str(tmp_path / f"{name}.parquet") for name in NAMES]
    marked = run_all(sites, [ROWS.format(seed=k, path=p) for k, p in enumerate(paths)])
    assert all(r.ok for r in marked), [r.error for r in marked]
    results = run_all(sites, ROWS_CELL)
    assert all(r.ok for r in results), [r.error for r in results]
    import numpy as np
    import pandas as pd

    pooled = pd.concat([pd.read_parquet(p) for p in paths])
    women = int((pooled["sex"] == "female").sum())
    assert int(float(sites[2].run("print(women)").text)) == women
    assert abs(float(sites[0].run("print(mean_age)").text) - pooled["age"].mean()) < 1e-4
    counts = sites[1].run("print(table.counts.tolist())").text
    assert counts.strip() == str([[women, 0], [0, len(pooled) - women]])
    # a later block that breaks the schema is refused when the rows are marked
    bad = sites[1].run(
        f"bad = pd.read_parquet({paths[1]!r}); bad.loc[4500, 'age'] = 400; bad.to_parquet({paths[1]!r} + '.bad')\n"
        f"worse = smpc_magic.rows({paths[1]!r} + '.bad', block_rows=1000)\n%smpc private worse"
    )
    assert not bad.ok and "'age'" in bad.error and "from row 4000" in bad.error
    assert np.isfinite(women)
