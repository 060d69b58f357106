"""The quick-start notebooks, executed together by nbclient in three real kernels."""

import json
import re

import nbformat
import numpy as np
import pytest

from kernel_bridge.session import new_session
from smpc_magic.launch.notebooks import quickstart_dir, run_site_notebooks
from tests.support.processes import dealer_process

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]
SITES = {"alice": (1, 1200), "bob": (2, 800), "carol": (3, 1500)}


def site_data(seed, rows):
    """What each quick-start notebook generates (notebooks/generate.py)."""
    rng = np.random.default_rng(seed)
    age = rng.normal(55, 12, rows).round()
    bmi = rng.normal(27, 4, rows)
    X = np.column_stack([np.ones(rows), age, bmi])
    y = 80 + 0.5 * age + 1.2 * bmi + rng.normal(0, 3, rows)
    return age, X, y


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    work = tmp_path_factory.mktemp("quickstart")
    session = new_session(list(SITES), work / "study", timeout=60, schema=quickstart_dir() / "study.toml")
    with dealer_process(session):
        notebooks = {site: quickstart_dir() / f"{site}.ipynb" for site in SITES}
        results = run_site_notebooks(notebooks, session, work / "out", timeout=120)
    return {site: (code, nbformat.read(path, as_version=4), path) for site, (code, path) in results.items()}


def outputs(nb, mime):
    return [o["data"][mime] for c in nb.cells for o in c.get("outputs", []) if mime in o.get("data", {})]


def test_every_notebook_ran_without_error(executed):
    for site, (code, nb, path) in executed.items():
        errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert code == 0 and not errors, (site, errors, (path.parent / f"{site}.log").read_text()[-2000:])


def test_salary_total_and_pooled_statistics_are_released_to_every_site(executed):
    ages, Xs, ys = zip(*(site_data(*v) for v in SITES.values()))
    X, y, age = np.vstack(Xs), np.concatenate(ys), np.concatenate(ages)
    for site, (_, nb, _) in executed.items():
        texts = "\n".join(outputs(nb, "text/plain"))
        assert re.search(r"total_salary = 171750\b", texts), site  # shown with the digits it supports
        html = "\n".join(outputs(nb, "text/html"))
        assert "smpc: released" in html and "<table" in html
        # the secure regression's released coefficients match plain least squares on the pooled rows
        assert "OLS regression (secure, pooled n = 3500)" in texts and "XtX" not in texts
        beta_text = next(t for t in outputs(nb, "text/plain") if t.startswith("array(["))
        beta = np.array(json.loads(beta_text.replace("array(", "").rstrip(")")))
        np.testing.assert_allclose(beta, np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-3)
        released_mean = re.search(r"mean_age = ([0-9.]+)", texts).group(1)
        assert len(released_mean.split(".")[1]) <= 3  # fixed-point noise is not shown
        assert float(released_mean) == pytest.approx(age.mean(), abs=1e-3)


def test_status_panel_widget_state_is_stored(executed):
    for site, (_, nb, _) in executed.items():
        state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
        panels = [
            m
            for m in state.values()
            if m["model_name"] == "HTMLModel" and "smpc session" in m["state"].get("value", "")
        ]
        assert panels, site
        assert "connected" in panels[0]["state"]["value"] and "not connected" not in panels[0]["state"]["value"]
        views = outputs(nb, "application/vnd.jupyter.widget-view+json")
        assert any(v["model_id"] in state for v in views)


def test_every_site_keeps_an_audit_record(executed):
    for site, (_, nb, _) in executed.items():
        texts = "\n".join(outputs(nb, "text/plain")) + "\n".join(
            o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "stream"
        )
        assert "released total_salary to alice, bob, carol (received)" in texts, site
