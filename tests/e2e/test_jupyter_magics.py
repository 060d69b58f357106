"""End to end: three real ipykernels (jupyter_client), a real dealer process, the magics."""

import pytest

from kernel_bridge.session import new_session
from tests.e2e.kernels import Site, run_all
from tests.support.processes import dealer_process

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

NAMES = ["site_a", "site_b", "site_c"]
TIMEOUT = 15
# the public ranges the sites agreed for their private variables
STUDY_SCHEMA = """
[study]
name = "magics"

[[variable]]
name = "x"
kind = "continuous"
min = 0
max = 40

[[variable]]
name = "flag"
kind = "integer"
min = 0
max = 1

[[variable]]
name = "age"
kind = "continuous"
min = 0
max = 120

[[variable]]
name = "event"
kind = "binary"
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    directory = tmp_path_factory.mktemp("study")
    (directory / "study.toml").write_text(STUDY_SCHEMA)
    session = new_session(NAMES, directory, timeout=TIMEOUT, schema=directory / "study.toml")
    with dealer_process(session):
        yield from _connected_sites(session, directory)


def _connected_sites(session, directory):
    sites = [Site(name, directory) for name in NAMES]
    try:
        results = run_all(sites, [f"%load_ext smpc_magic\n%smpc connect {session} --as {name}" for name in NAMES])
        for r in results:
            assert r.ok, r.error
        yield {"session": session, "sites": sites, "connect": results, "dir": directory}
    finally:
        for site in sites:
            site.close()


def setup_data(sites):
    codes = [
        f"import numpy as np\nx = np.arange({k * 10}, {k * 10 + 5}, dtype=float)\nflag = np.array([1, 0, 1])\n%smpc private x flag"
        for k in range(3)
    ]
    for r in run_all(sites, codes):
        assert r.ok, r.error


def test_connect_shows_a_status_panel(study):
    for r in study["connect"]:
        bundle = r.outputs[0]
        assert "application/vnd.jupyter.widget-view+json" in bundle
        assert "connected" in bundle["text/plain"] and "NOT connected" not in bundle["text/plain"]


def test_help_comes_from_magic_arguments(study):
    r = study["sites"][0].run("from smpc_magic.jupyter.magics import SmpcMagics\nprint(SmpcMagics.smpc_cell.__doc__)")
    assert "--reveal" in r.text and "--to" in r.text


def test_pooled_computation_released_to_all(study):
    sites = study["sites"]
    setup_data(sites)
    results = run_all(sites, "%%smpc --reveal total, m n\ntotal = x.sum()\nm = x.mean()\nn = flag.sum()")
    for r in results:
        assert r.ok, r.error
        assert any("text/html" in o and "smpc: released" in o["text/html"] for o in r.outputs)
    expected = sum(range(0, 5)) + sum(range(10, 15)) + sum(range(20, 25))
    for site in sites:
        r = site.run("print(total, m, n)")
        total, mean, n = r.text.split()
        assert float(total) == pytest.approx(expected) and float(mean) == pytest.approx(expected / 15, abs=1e-4)
        assert int(n) == 6


def test_release_to_one_party_only(study):
    sites = study["sites"]
    setup_data(sites)
    results = run_all(sites, "%%smpc --reveal only_b --to site_b\nonly_b = x.sum() * 2")
    assert all(r.ok for r in results), [r.error for r in results]
    assert "receives nothing" in results[0].text and "receives nothing" in results[2].text
    assert sites[1].run("print(only_b)").text.strip() != ""
    for i in (0, 2):
        assert sites[i].run("print('only_b' in globals())").text.strip() == "False"


def test_public_values_that_differ_are_refused_naming_the_site(study):
    sites = study["sites"]
    setup_data(sites)
    run_all(sites, ["threshold = 3", "threshold = 3", "threshold = 4"])
    results = run_all(sites, "%%smpc --reveal s --public threshold\ns = x.sum() * threshold")
    for i, r in enumerate(results):
        assert not r.ok and r.ename == "InputMismatchError"
        assert "different public values" in r.error
        assert ("'site_c'" in r.error) if i != 2 else ("'site_a'" in r.error)


def test_a_different_cell_is_refused_everywhere_before_any_share_leaves(study):
    sites = study["sites"]
    setup_data(sites)
    cells = ["%%smpc --reveal s\ns = x.sum()"] * 2 + ["%%smpc --reveal s\ns = x.sum() + 1"]
    results = run_all(sites, cells)
    for r in results:
        assert not r.ok and r.ename == "InputMismatchError" and "runs a different cell" in r.error
        assert "the first line that differs is line 1" in r.error  # of the body; each site shows its text
    assert "(here: `s = x.sum() + 1`;" in results[2].error and "(here: `s = x.sum()`;" in results[0].error
    # only the rendezvous and the declarations' digests were exchanged (two rounds of public
    # metadata, 3 x 64-character digests per peer): no input-dependent message left any site
    for site in sites:
        r = site.run(
            "from smpc_magic.jupyter.magics import current_site\ns = current_site().party.last_run_stats\nprint(s.rounds, s.bytes_sent)"
        )
        rounds, sent = (int(v) for v in r.text.split())
        assert rounds == 2 and sent <= 2 * 512, (rounds, sent)


def test_an_unmarked_notebook_variable_is_a_name_error_with_a_hint(study):
    sites = study["sites"]
    setup_data(sites)
    run_all(sites, "local_only = 5")
    results = run_all(sites, "%%smpc --reveal s\ns = x.sum() + local_only")
    for r in results:
        assert not r.ok and r.ename == "UnknownNameError"
        assert "local_only" in r.error and "%smpc private" in r.error


def test_keep_a_secret_for_a_later_cell(study):
    sites = study["sites"]
    setup_data(sites)
    assert all(r.ok for r in run_all(sites, "%%smpc --keep total\ntotal = x.sum()"))
    results = run_all(sites, "%%smpc --reveal doubled\ndoubled = total * 2")
    assert all(r.ok for r in results), [r.error for r in results]
    assert float(sites[0].run("print(doubled)").text) == pytest.approx(2 * 180)


def test_pandas_frames_pool_by_column(study):
    sites = study["sites"]
    codes = [
        f"import pandas as pd\ncohort = pd.DataFrame({{'age': [40.0 + {k}, 50.0], 'event': [1, 0]}})\n%smpc private cohort"
        for k in range(3)
    ]
    assert all(r.ok for r in run_all(sites, codes))
    results = run_all(
        sites, '%%smpc --reveal events, mean_age\nevents = cohort["event"].sum()\nmean_age = cohort["age"].mean()'
    )
    assert all(r.ok for r in results), [r.error for r in results]
    assert sites[2].run("print(events, round(mean_age, 3))").text.split() == [
        "3",
        str(round((40 + 41 + 42 + 150) / 6, 3)),
    ]


def test_public_functions_are_compared_by_source(study):
    sites = study["sites"]
    setup_data(sites)
    run_all(sites, "def centre(v):\n    return v - 10")
    results = run_all(sites, "%%smpc --reveal m --public centre\nm = centre(x).mean()")
    assert all(r.ok for r in results), [r.error for r in results]
    assert float(sites[1].run("print(m)").text) == pytest.approx(12.0 - 10, abs=1e-4)
    run_all(sites, ["def centre(v):\n    return v - 10"] * 2 + ["def centre(v):\n    return v - 11"])
    results = run_all(sites, "%%smpc --reveal m --public centre\nm = centre(x).mean()")
    assert all(not r.ok and "different public values" in r.error for r in results)
    # Same source, different notebook globals: the function may not read them at all.
    run_all(
        sites,
        ["offset = 10\ndef shift(v):\n    return v - offset"] * 2
        + ["offset = 99\ndef shift(v):\n    return v - offset"],
    )
    results = run_all(sites, "%%smpc --reveal m --public shift\nm = shift(x).mean()")
    assert all(not r.ok and "'offset', which is not public" in r.error for r in results), [r.error for r in results]
    results = run_all(sites, "%%smpc --reveal m --public shift offset\nm = shift(x).mean()")
    assert all(not r.ok and "different public values" in r.error for r in results)


def test_preprocess_fills_the_stock_shown_by_status_in_what_it_buys(study):
    from re import search

    sites = study["sites"]
    results = run_all(sites, "%smpc preprocess --triples 20000 --truncations 20000 --comparisons 1000")
    assert all(r.ok for r in results), [r.error for r in results]
    assert "enough for about" in results[0].text and "mul: " in results[0].text  # the detail line names kinds
    status = sites[0].run("%smpc status")
    found = search(r"enough for about ([0-9,]+) fixed-point multiplications and ([0-9,]+) comparisons", status.text)
    assert found, status.text
    assert int(found.group(1).replace(",", "")) >= 20000 and int(found.group(2).replace(",", "")) >= 1000
    assert "mul: " not in status.text and "on demand" in status.text  # engine kinds only in the details
    page = next(o["text/html"] for o in status.outputs if "text/html" in o)
    assert "material by kind" in page and "mul: " in page


def test_audit_log_records_every_release(study):
    r = study["sites"][0].run("%smpc audit")
    assert "released" in r.text and "not received" in r.text and "FAILED" in r.text


def test_a_kernel_killed_mid_cell_is_named_and_a_fresh_kernel_can_rejoin(study):
    sites = study["sites"]
    setup_data(sites)
    long_cell = "%%smpc --reveal s\nacc = x / 40\nh = x / 80\nfor i in range(4000):\n    acc = acc * h\ns = acc.sum()"
    ids = [site.submit(long_cell) for site in sites]
    sites[2].wait_for_output(ids[2], "smpc: round", 30)  # its progress line: the computation is under way
    sites[2].kill()
    for site, msg_id in zip(sites[:2], ids[:2]):
        r = site.collect(msg_id, TIMEOUT + 20)
        assert not r.ok and "'site_c'" in r.error, r.error
        assert r.ename in ("PeerDisconnected", "PeerAborted", "PeerTimeout")
    fresh = Site("site_c", study["dir"])
    sites[2] = fresh
    r = fresh.run(f"%load_ext smpc_magic\n%smpc connect {study['session']} --as site_c")
    assert r.ok, r.error
    setup_data(sites)
    quick = "%%smpc --reveal s\ns = (x * x).sum()"
    results = run_all(sites, quick)
    assert all(r.ok for r in results), [r.error for r in results]
    expected = sum(v * v for v in [*range(0, 5), *range(10, 15), *range(20, 25)])
    for site in sites:
        assert float(site.run("print(s)").text) == pytest.approx(expected, rel=1e-6)


def test_a_nan_at_one_site_stops_every_site_at_once_naming_it(study):
    sites = study["sites"]
    setup_data(sites)
    sites[1].run("x[2] = float('nan')")
    results = run_all(sites, "%%smpc --reveal s\ns = x.sum()")
    # every site stops on the named cause (none waits for its timeout: that would be PeerTimeout)
    assert all(not r.ok and r.ename == "SchemaError" for r in results), [r.error for r in results]
    assert "missing values" in results[1].error
    assert all("'site_b'" in r.error and "nothing was shared" in r.error for r in (results[0], results[2]))
    sites[1].run("x[2] = 12.0")
    results = run_all(sites, "%%smpc --reveal s\ns = x.sum()")
    assert all(r.ok for r in results), [r.error for r in results]


def test_a_site_that_has_not_marked_a_pooled_name_stops_every_site_unless_the_cell_says_partial(study):
    sites = study["sites"]
    setup_data(sites)
    sites[2].run("%smpc private --clear x")  # site_c forgot to mark its rows (x is still in its notebook)
    results = run_all(sites, "%%smpc --reveal s\ns = x.sum()")
    assert all(not r.ok and r.ename == "MissingContributionError" for r in results), [r.error for r in results]
    assert all("'site_c'" in r.error and "nothing was shared" in r.error for r in results)
    hint = "run `%smpc private x` here"
    assert hint in results[2].error and hint not in results[0].error  # only the site that holds x
    # declared as coming from some sites only, the cell runs and says whose rows went in
    results = run_all(sites, "%%smpc --reveal s --partial x\ns = x.sum()")
    assert all(r.ok for r in results), [r.error for r in results]
    assert all("x from site_a, site_b" in r.text for r in results)
    assert float(sites[0].run("print(s)").text) == pytest.approx(sum(range(0, 5)) + sum(range(10, 15)))
    # private marks survive a reconnect
    sites[2].run("%smpc private x")
    run_all(sites, [f"%smpc disconnect\n%smpc connect {study['session']} --as {name}" for name in NAMES])
    assert "x" in sites[0].run("%smpc private").text
    results = run_all(sites, "%%smpc --reveal s\ns = x.sum()")
    assert all(r.ok and "x from site_a, site_b, site_c" in r.text for r in results), [r.error for r in results]


def test_without_any_policy_file_the_default_rules_hold(study):
    """Privacy is on before any custodian writes a file: one patient's values, or a count of one,
    are withheld at every site; a sum over enough rows is released."""
    sites = study["sites"]
    setup_data(sites)
    refused = {
        "%%smpc --reveal y\ny = x * 1": "row_level",  # a whole column: one value per patient
        "%%smpc --reveal c\nc = (x > 23).sum()": "min_count",  # a count of one, at one site
        # a pooled cell of 1 + 1: one patient at each of two sites (4 and 14)
        "%%smpc --reveal c\nc = ((x > 3.5) * (x < 4.5) + (x > 13.5) * (x < 14.5)).sum()": "min_count",
        # the same pooled 1 + 1 as a crosstab's cells (x = 4 and x = 14: a row of 2, cells of 1)
        "%%smpc --reveal t\npair = (x > 3.5) * (x < 4.5) + (x > 13.5) * (x < 14.5)\n"
        "t = smpc.stats.crosstab(pair, x > 12, levels_a=['other', 'pair'])": "min_count",
    }
    for cell, rule in refused.items():
        results = run_all(sites, cell)
        assert all(not r.ok and r.ename == "DisclosureError" for r in results), [r.error for r in results]
        assert all(rule in r.error for r in results), (rule, [r.error for r in results])
    results = run_all(sites, "%%smpc --reveal s\ns = x.sum()")
    assert all(r.ok for r in results), [r.error for r in results]
