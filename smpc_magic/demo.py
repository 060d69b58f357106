"""``smpc demo``: the reference text's salary example and a pooled analysis, with three real
local parties (separate processes over CurveZMQ) and a dealer."""

from __future__ import annotations

import time

import numpy as np

from .simulate import simulate

SALARY_CELL = "total_salary = salary.sum()"
POOLED_CELL = """
n = age.shape[0]
mean_age = age.mean()
XtX = X.T @ X
Xty = X.T @ y
"""


def _site_data(seed: int, rows: int) -> dict[str, np.ndarray]:
    """Synthetic site data (demo only): age, and a design matrix with an intercept."""
    t = np.arange(rows, dtype=np.float64) + seed * 1000
    age = 45 + 15 * np.sin(t * 0.37)
    bmi = 27 + 4 * np.cos(t * 0.11)
    X = np.column_stack([np.ones(rows), age, bmi])
    y = 80 + 0.5 * age + 1.2 * bmi + 3 * np.sin(t * 1.7)
    return {"age": age, "X": X, "y": y}


def main() -> int:
    print("smpc demo: three sites, each a separate process; a dealer process; CurveZMQ on loopback.\n")
    salaries = {"alice": 52_000.0, "bob": 61_500.0, "carol": 58_250.0}
    started = time.perf_counter()
    out = simulate(SALARY_CELL, {name: {"salary": value} for name, value in salaries.items()}, ["total_salary"])
    print("1. Alice, Bob and Carol learn their total salary and nothing else:")
    print(f"   %%smpc --reveal total_salary\n   {SALARY_CELL}")
    print(f"   -> total_salary = {float(out['total_salary']):,.2f}   (plain sum: {sum(salaries.values()):,.2f})")
    print(f"   [{time.perf_counter() - started:.2f} s including starting four processes]\n")

    sites = {
        name: _site_data(i, rows)
        for i, (name, rows) in enumerate([("hospital_a", 4000), ("hospital_b", 2500), ("registry", 6000)])
    }
    started = time.perf_counter()
    out = simulate(POOLED_CELL, sites, ["n", "mean_age", "XtX", "Xty"])
    pooled = {k: np.concatenate([s[k] for s in sites.values()]) for k in ("age", "X", "y")}
    beta = np.linalg.solve(out["XtX"], out["Xty"])
    print("2. A pooled mean and the normal equations of a regression, rows stacked across three sites:")
    print(f"   n = {int(out['n'])}, mean age = {float(out['mean_age']):.4f}   (plain: {pooled['age'].mean():.4f})")
    print(f"   coefficients from X.T@X and X.T@y = {np.round(beta, 4)}")
    print(
        f"   plain least squares               = {np.round(np.linalg.lstsq(pooled['X'], pooled['y'], rcond=None)[0], 4)}"
    )
    print(f"   [{time.perf_counter() - started:.2f} s]\n")
    print("No site's rows, sums or intermediate values left it; only the released names above.")
    return 0
