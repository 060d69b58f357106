"""The example studies' site notebooks (notebooks/<study>/), executed together by nbclient in
real kernels, one per site, as `smpc demo --study NAME` runs them: no errors, and the released
results shown inline."""

import importlib.util
import re
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from lifelines import KaplanMeierFitter
from statsmodels.duration.hazard_regression import PHReg

from kernel_bridge.session import new_session
from smpc_magic.launch.notebooks import run_site_notebooks, study_dir, study_notebooks
from tests.support.processes import dealer_process

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

EXPECTED = {
    "anticoagulant_safety": [
        "Rate ratio (DOAC over warfarin, secure, pooled)",
        "Incidence rate (secure, pooled)",
        "Pearson chi2",
        "Logistic regression (secure",
        "Poisson regression (secure",
        "Weighted Poisson regression (secure",
        "Cox regression (secure",
        "Kaplan–Meier (secure",
    ],
    "breast_cancer": ["OLS regression (secure", "Logistic regression (secure", "difference / SE"],
    "survival": ["Kaplan–Meier (secure", "Log-rank test (secure"],
    "governance": ["Cross-tabulation of drug by prior_stroke (secure", "Incidence rate (secure", ": intact"],
    "template": ["OLS regression (secure", "Cross-tabulation of sex by event (secure"],
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
        if study in ("survival", "anticoagulant_safety"):
            assert any("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
        if study == "anticoagulant_safety":
            _check_box1_against_plaintext(shown)


# ----- the Box 1 analysis beside its plaintext reference on the pooled rows -------------------------
def _box1_cohort() -> pd.DataFrame:
    """The three boards' rows, made by the notebooks' own data cells (notebooks/generate.py)."""
    spec = importlib.util.spec_from_file_location("generate", Path(__file__).parents[2] / "notebooks" / "generate.py")
    assert spec is not None and spec.loader is not None
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    frames = []
    for seed, rows in generate.BOARDS.values():
        scope: dict = {"np": np, "pd": pd}
        exec(generate.ANTICOAGULANT_DATA.format(seed=seed, rows=rows).replace("%smpc private cohort", ""), scope)
        frames.append(scope["cohort"])
    pooled = pd.concat(frames, ignore_index=True)
    pooled["drug=doac"] = (pooled["drug"] == "doac").astype(float)
    pooled["sex=female"] = (pooled["sex"] == "female").astype(float)
    return pooled


def _table(shown: str, title: str, skip: int = 0) -> list[list[str]]:
    """The rows of the ``skip``-th printed table whose title starts with ``title``."""
    lines = shown.split(title)[1 + skip].split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("---"))
    return [
        line.split()
        for line in lines[start + 1 : next(i for i in range(start, len(lines)) if lines[i].startswith("="))]
    ]


def _close_to(rows: list[list[str]], params, bse, share: float) -> None:
    """coef and SE (printed to 4 decimals) within ``share`` of the reference's SEs."""
    for (name, coef, se, *_), want, want_se in zip(rows, params, bse):
        assert abs(float(coef) - want) <= share * want_se + 5e-5, (name, coef, want, want_se)
        assert abs(float(se) - want_se) <= share * want_se + 5e-5, (name, se, want_se)


def _check_box1_against_plaintext(shown: str) -> None:
    d = _box1_cohort()
    covariates = ["age", "prior_stroke", "drug=doac", "sex=female"]
    X = sm.add_constant(d[covariates].astype(float))
    logit = sm.Logit(d["ich"], X).fit(disp=0)
    _close_to(_table(shown, "Logistic regression (secure"), logit.params, logit.bse, 0.05)
    poisson = sm.GLM(d["ich"], X, family=sm.families.Poisson(), offset=np.log(d["followup"])).fit()
    _close_to(_table(shown, "Poisson regression (secure"), poisson.params, poisson.bse, 0.02)
    # IPTW: stabilized weights from the propensity model, a weighted Poisson fit with HC0 errors
    confounders = sm.add_constant(d[["age", "prior_stroke", "sex=female"]].astype(float))
    ps = sm.Logit(d["drug=doac"], confounders).fit(disp=0).predict()
    share = d["drug=doac"].mean()
    weights = np.where(d["drug=doac"] == 1, share / ps, (1 - share) / (1 - ps))
    iptw = sm.GLM(
        d["ich"],
        sm.add_constant(d[["drug=doac"]]),
        family=sm.families.Poisson(),
        offset=np.log(d["followup"]),
        var_weights=weights,
    ).fit(cov_type="HC0")
    _close_to(_table(shown, "Weighted Poisson regression (secure"), iptw.params, iptw.bse, 0.05)
    # Cox on the quarter-year grid (Breslow's ties) = PHReg on the grouped times
    quarters = np.arange(1, 20) / 4
    grouped = np.searchsorted(quarters, d["followup"].to_numpy(), side="left")
    cox = PHReg(grouped, d[covariates].astype(float), status=d["ich"], ties="breslow").fit()
    _close_to(_table(shown, "Cox regression (secure"), cox.params, cox.bse, 0.05)
    # survival by drug at years 2, 3 and 4: within 1e-3 (SEs to their printed 4 decimals)
    for skip, drug in enumerate(["doac", "warfarin"]):
        rows = _table(shown, "Kaplan–Meier (secure", skip)
        group = d[d["drug"] == drug]
        km = KaplanMeierFitter().fit(group["followup"], group["ich"])
        want = km.survival_function_at_times([2, 3, 4]).to_numpy()
        assert np.abs(np.array([float(r[1]) for r in rows]) - want).max() <= 1e-3, (drug, rows, want)
