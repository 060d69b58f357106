"""The example studies' site notebooks (notebooks/<study>/), executed together by nbclient in
real kernels, one per site, as `smpc demo --study NAME` runs them: no errors, and the released
results shown inline."""

import re

import nbformat
import pytest

from kernel_bridge.session import new_session
from smpc_magic.launch.notebooks import run_site_notebooks, study_dir, study_notebooks
from tests.support.processes import dealer_process

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

EXPECTED = {
    "anticoagulant_safety": [
        "Rate ratio (DOAC over warfarin, secure, pooled)",
        "Incidence rate (secure, pooled)",
        "Pearson chi2",
        "Logistic regression (secure",
        "Poisson regression (secure",
    ],
    "breast_cancer": ["OLS regression (secure", "Logistic regression (secure", "difference / SE"],
    "survival": ["Kaplan–Meier (secure", "Log-rank test (secure"],
    "governance": ["Cross-tabulation (secure", "Incidence rate (secure", ": intact"],
    "template": ["OLS regression (secure", "Cross-tabulation (secure"],
}

EXPECTED_ERRORS = {"governance": ["ApprovalRequiredError", "DisclosureError"]}


def texts(nb):
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            out.append(
                o.get("text", "") if o.get("output_type") == "stream" else o.get("data", {}).get("text/plain", "")
            )
    return "\n".join(out)


@pytest.mark.parametrize("study", sorted(EXPECTED))
def test_study_notebooks_run_together_and_show_their_results(study, tmp_path):
    notebooks, site_env = study_notebooks(study)
    session = new_session(list(notebooks), tmp_path / "study", timeout=120, schema=study_dir(study) / "study.toml")
    with dealer_process(session):
        results = run_site_notebooks(notebooks, session, tmp_path / "out", timeout=300, site_env=site_env)
    for site, (code, path) in results.items():
        nb = nbformat.read(path, as_version=4)
        expected = [c for c in nb.cells if "raises-exception" in c.get("metadata", {}).get("tags", [])]
        errors = [
            o for c in nb.cells if c not in expected for o in c.get("outputs", []) if o.get("output_type") == "error"
        ]
        assert code == 0 and not errors, (site, errors, (path.parent / f"{site}.log").read_text()[-2000:])
        # the walkthrough's refusals: an unapproved cell, then a table withheld by the pooled small-cell rule
        raised = [o.get("ename") for c in expected for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert raised == EXPECTED_ERRORS.get(study, []), (site, raised)
        shown = texts(nb)
        for phrase in EXPECTED[study]:
            assert phrase in shown, (site, phrase)
        if study == "breast_cancer":  # the secure fits beside the plaintext ones: |difference| / SE
            ratios = [float(v) for v in re.findall(r"(-?\d+\.\d+)\n", shown.split("difference / SE", 1)[1])]
            assert ratios and max(abs(r) for r in ratios) < 0.05
        if study == "survival":
            assert any("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
