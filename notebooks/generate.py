"""Write every study's site notebooks from one definition per study.

The ``%%smpc`` cells of a study must be identical at every site (the rendezvous compares them),
so each study is written once here: its shared cells, and per site only the lines that load
that site's data. Run ``python notebooks/generate.py`` after editing; CI executes the results.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def markdown(text: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": text.strip("\n")}


def code(text: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": text.strip("\n")}


def connect(site: str, extra_imports: str = "") -> list[dict]:
    return [
        code(
            f"""
import os

import numpy as np
import pandas as pd
{extra_imports}
# the session file every site shares (`smpc session new` writes it)
session = os.environ.get("SMPC_SESSION", "study/session.toml")
"""
        ),
        code(f"%load_ext smpc_magic\n%smpc connect {{session}} --as {site}"),
    ]


def write(folder: str, site: str, cells: list[dict]) -> None:
    nb = {
        "cells": cells,
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    for i, cell in enumerate(nb["cells"]):
        cell["id"] = f"{site}-{i}"
    path = HERE / folder / f"{site}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1) + "\n")


# ----- quick start -----------------------------------------------------------------------------
QUICKSTART = {"alice": (52000.0, 1, 1200), "bob": (61500.0, 2, 800), "carol": (58250.0, 3, 1500)}


def quickstart() -> None:
    for site, (salary, seed, rows) in QUICKSTART.items():
        title = site.capitalize()
        write(
            "quickstart",
            site,
            [
                markdown(
                    f"""
# Quick start — site **{title}**

One of three notebooks (`alice.ipynb`, `bob.ipynb`, `carol.ipynb`). Each site runs its own notebook in its own kernel; the cells marked `%%smpc` run jointly with the other sites. See `README.md` in this folder for how to start them.
"""
                ),
                *connect(site),
                markdown("## This site's private data\n\nNothing below leaves this kernel except as secret shares."),
                code(
                    f"""
salary = {salary}

rng = np.random.default_rng({seed})  # synthetic data for the example
age = rng.normal(55, 12, {rows}).round()
bmi = rng.normal(27, 4, {rows})
sbp = 80 + 0.5 * age + 1.2 * bmi + rng.normal(0, 3, {rows})  # systolic blood pressure
cohort = pd.DataFrame({{"age": age.astype(int), "bmi": bmi, "sbp": sbp}})

%smpc private salary cohort
"""
                ),
                markdown(
                    "## The offline phase\n\nMultiplications and comparisons use random material from the dealer. "
                    "Fetching it ahead makes the cells below faster; the stock says what it is enough for."
                ),
                code("%smpc preprocess --triples 20000 --truncations 20000 --comparisons 500"),
                markdown(
                    "## The salary example\n\nAlice, Bob and Carol learn their total salary and nothing else. The sites "
                    "need not press Run together: until every site has run the cell, the line under it says who it "
                    "waits for (`smpc: waiting for carol to run this cell (bob ready), 12 s`); each site may join within "
                    "the session's `join_timeout` (5 minutes), and interrupting the kernel cancels the cell at every site."
                ),
                code("%%smpc --reveal total_salary\ntotal_salary = salary.sum()"),
                markdown(
                    """
## A pooled mean and a pooled regression

Rows are stacked across the three sites. The regression is fitted inside the secure computation: only the mean age and the fitted model (coefficients, standard errors, residual variance) are released, never X'X or any other summary of a site's data.
"""
                ),
                code(
                    """
%%smpc --reveal mean_age, fit
mean_age = cohort['age'].mean()
fit = smpc.stats.ols(cohort[['age', 'bmi']], cohort['sbp'])
"""
                ),
                code("fit.coef  # intercept, age, bmi"),
                code("print(fit.summary())  # p-values and intervals are computed here, from the released numbers"),
                code("%smpc audit"),
            ],
        )


# ----- anticoagulant safety (the reference text's Box 1) ---------------------------------------------
BOARDS = {"north": (11, 3000), "south": (12, 2500), "west": (13, 3500)}

ANTICOAGULANT_DATA = """
rng = np.random.default_rng({seed})  # synthetic patient-level data for the example
n = {rows}
age = rng.integers(40, 96, n)
sex = rng.choice(["female", "male"], n)
drug = rng.choice(["warfarin", "doac"], n, p=[0.4, 0.6])
prior_stroke = (rng.random(n) < 0.15).astype(int)
followup = np.round(rng.uniform(0.1, 5.0, n), 2)  # years on treatment
hazard = 0.004 * np.exp(0.04 * (age - 70) + 0.7 * prior_stroke - 0.5 * (drug == "doac"))
ich = (rng.random(n) < 1 - np.exp(-hazard * followup)).astype(int)  # intracranial haemorrhage
cohort = pd.DataFrame(dict(age=age, sex=sex, drug=drug, prior_stroke=prior_stroke, followup=followup, ich=ich))

%smpc private cohort
"""


def anticoagulant_safety() -> None:
    for board, (seed, rows) in BOARDS.items():
        write(
            "anticoagulant_safety",
            board,
            [
                markdown(
                    f"""
# Anticoagulant safety — health board **{board}**

Three health boards (`north`, `south`, `west`) each hold patient-level data on people starting an anticoagulant (warfarin or a direct oral anticoagulant, DOAC) and whether they had an intracranial haemorrhage (ICH). They agreed a study schema (`study.toml`): the variables, their units, ranges and levels. Each board runs this notebook; the `%%smpc` cells run jointly. Every board learns the pooled incidence rates, the rate ratio, the adjusted odds ratios and rate ratios, the propensity-weighted rate ratio, the adjusted hazard ratios and survival curves by drug, and the quartiles of age and follow-up, and nothing else.
"""
                ),
                *connect(board, "import matplotlib.pyplot as plt\n"),
                markdown(
                    "## This board's data\n\nChecked against the study schema when marked private; nothing leaves the board but secret shares."
                ),
                code(ANTICOAGULANT_DATA.format(seed=seed, rows=rows)),
                markdown("## Incidence of ICH per drug, and the rate ratio (DOAC vs warfarin)"),
                code(
                    """
%%smpc --reveal warfarin, doac, ratio
on_warfarin = cohort[cohort['drug=warfarin']]  # a secret filter: who is on which drug stays secret
on_doac = cohort[cohort['drug=doac']]
warfarin = smpc.stats.incidence_rate(on_warfarin['ich'], on_warfarin['followup'])
doac = smpc.stats.incidence_rate(on_doac['ich'], on_doac['followup'])
ratio = smpc.stats.rate_ratio(cohort['ich'], cohort['followup'], cohort['drug=doac'], labels=("DOAC", "warfarin"))
"""
                ),
                code("print(warfarin.summary())\nprint(doac.summary())\nprint(ratio.summary())"),
                markdown("## ICH by drug: the table and Pearson's chi-square"),
                code("%%smpc --reveal table\ntable = smpc.stats.crosstab(cohort.categorical('drug'), cohort['ich'])"),
                markdown("## Pooled logistic regression of ICH on age, prior stroke, drug and sex"),
                code(
                    """
%%smpc --reveal model
model = smpc.stats.logit(cohort[['age', 'prior_stroke', 'drug=doac', 'sex=female']], cohort['ich'], iterations=10)
"""
                ),
                code(
                    "print(model.summary())\nodds_ratios = dict(zip(model.names, np.round(model.odds_ratios, 3)))\nodds_ratios"
                ),
                markdown(
                    "## Adjusted incidence rate ratios: Poisson regression with person-time\n\n"
                    "The follow-up time enters as a log offset, so `exp(coef)` are rate ratios adjusted for age, "
                    "prior stroke and sex."
                ),
                code(
                    """
%%smpc --reveal irr
irr = smpc.stats.poisson(cohort[['age', 'prior_stroke', 'drug=doac', 'sex=female']], cohort['ich'], cohort['followup'])
"""
                ),
                code("print(irr.summary())\ndict(zip(irr.names, np.round(irr.rate_ratios, 3)))"),
                markdown(
                    "## Confounding by indication: inverse probability of treatment weights\n\n"
                    "Who gets a DOAC depends on age, prior stroke and sex. A logistic model of the drug on them gives "
                    "every patient a secret weight (stabilized inverse probability of the drug they got); the weighted "
                    "Poisson regression then compares the drugs as if they had been assigned at random, with robust "
                    "(sandwich) standard errors. The weights are row-level: they never leave the computation."
                ),
                code(
                    """
%%smpc --reveal iptw
w = smpc.stats.propensity_weights(cohort[['age', 'prior_stroke', 'sex=female']], cohort['drug=doac'])
iptw = smpc.stats.poisson(cohort[['drug=doac']], cohort['ich'], cohort['followup'], weights=w, robust=True)
"""
                ),
                code("print(iptw.summary())\ndict(zip(iptw.names, np.round(iptw.rate_ratios, 3)))"),
                markdown(
                    "## Adjusted hazard ratio: Cox regression, and the survival curves\n\n"
                    "Follow-up is in years to two decimals. The study groups it into quarter-years (`grid=`): the "
                    "fit is that of the grouped times, with tied events handled as Breslow did, and it needs no "
                    "secure sort of the 9,000 patients. The Kaplan–Meier curves by drug are read at years 2, 3 and 4 "
                    "(in the first year too few haemorrhages happened on warfarin for the pooled small-cell rule)."
                ),
                code(
                    """
%%smpc --reveal cox, doac_curve, warfarin_curve
quarters = [k / 4 for k in range(1, 20)]
cox = smpc.stats.coxph(cohort[['age', 'prior_stroke', 'drug=doac', 'sex=female']], cohort['followup'], cohort['ich'], grid=quarters, ties='breslow')
years = [2, 3, 4]
doac_curve = smpc.stats.kaplan_meier(cohort['followup'], cohort['ich'], years, where=cohort['drug=doac'])
warfarin_curve = smpc.stats.kaplan_meier(cohort['followup'], cohort['ich'], years, where=cohort['drug=warfarin'])
"""
                ),
                code("print(cox.summary())\ndict(zip(cox.names, np.round(cox.hazard_ratios, 3)))"),
                code(
                    """
fig, ax = plt.subplots(figsize=(7, 4))
doac_curve.plot(ax, label="DOAC")
warfarin_curve.plot(ax, label="warfarin")
ax.set_xlabel("years on treatment")
ax.set_ylabel("free of intracranial haemorrhage")
ax.legend()
plt.show()
"""
                ),
                code("print(doac_curve.summary())\nprint(warfarin_curve.summary())"),
                markdown("## Baseline: quartiles of age and follow-up"),
                code(
                    "%%smpc --reveal quartiles\n"
                    "quartiles = smpc.stats.quantile(cohort[['age', 'followup']], [0.25, 0.5, 0.75])"
                ),
                code('pd.DataFrame(quartiles, index=["age", "followup"], columns=["25%", "median", "75%"])'),
                code("%smpc audit"),
            ],
        )


# ----- breast cancer: scikit-learn's data split across three hospitals ----------------------------
HOSPITALS = ("royal", "general", "county")

BREAST_CANCER_DATA = """
from sklearn.datasets import load_breast_cancer

data = load_breast_cancer(as_frame=True).frame
data.columns = [c.replace(" ", "_") for c in data.columns]
rows = np.array_split(np.arange(len(data)), 3)[{index}]  # this hospital's patients
cohort = data.iloc[rows][["mean_radius", "mean_texture", "mean_smoothness", "mean_concavity", "worst_symmetry", "target"]]
cohort = cohort.rename(columns={{"target": "benign"}})

%smpc private cohort
"""


def breast_cancer() -> None:
    for index, hospital in enumerate(HOSPITALS):
        write(
            "breast_cancer",
            hospital,
            [
                markdown(
                    f"""
# Breast cancer — hospital **{hospital}**

scikit-learn's breast-cancer data, split across three hospitals (`royal`, `general`, `county`). The hospitals fit a linear and a logistic regression on their pooled patients without sharing them. Because this example's data is public, the last cells fit the same models in plaintext on all rows, to show the secure fit beside it.
"""
                ),
                *connect(hospital, "import statsmodels.api as sm\n"),
                code(BREAST_CANCER_DATA.format(index=index)),
                markdown("## Linear regression: mean concavity on size, texture and smoothness"),
                code(
                    "%%smpc --reveal linear\n"
                    "linear = smpc.stats.ols(cohort[['mean_radius', 'mean_texture', 'mean_smoothness']], cohort['mean_concavity'])"
                ),
                code("print(linear.summary())"),
                markdown("## Logistic regression: benign tumour on five features"),
                code(
                    """
%%smpc --reveal logistic
features = ['mean_radius', 'mean_texture', 'mean_smoothness', 'mean_concavity', 'worst_symmetry']
logistic = smpc.stats.logit(cohort[features], cohort['benign'], iterations=10)
"""
                ),
                code("print(logistic.summary())"),
                markdown("## Beside the plaintext fits (possible here only because the data is public)"),
                code(
                    """
X = sm.add_constant(data[['mean_radius', 'mean_texture', 'mean_smoothness']])
plain_linear = sm.OLS(data['mean_concavity'], X).fit()
features = ['mean_radius', 'mean_texture', 'mean_smoothness', 'mean_concavity', 'worst_symmetry']
plain_logistic = sm.Logit(data['target'], sm.add_constant(data[features])).fit(disp=0)
pd.DataFrame({
    "secure OLS": linear.coef, "plaintext OLS": plain_linear.params.to_numpy(),
    "difference / SE": (linear.coef - plain_linear.params.to_numpy()) / plain_linear.bse.to_numpy(),
}, index=linear.names)
"""
                ),
                code(
                    """
pd.DataFrame({
    "secure logit": logistic.coef, "plaintext logit": plain_logistic.params.to_numpy(),
    "difference / SE": (logistic.coef - plain_logistic.params.to_numpy()) / plain_logistic.bse.to_numpy(),
}, index=logistic.names)
"""
                ),
            ],
        )


# ----- survival: lifelines' rossi data across three sites -------------------------------------------
SURVIVAL_SITES = ("site_a", "site_b", "site_c")

SURVIVAL_DATA = """
from lifelines.datasets import load_rossi

rossi = load_rossi()
rows = np.array_split(np.arange(len(rossi)), 3)[{index}]  # this site's people
cohort = rossi.iloc[rows][["week", "arrest", "fin"]].astype(int)

%smpc private cohort
"""


def survival() -> None:
    for index, site in enumerate(SURVIVAL_SITES):
        write(
            "survival",
            site,
            [
                markdown(
                    f"""
# Survival across sites — **{site}**

lifelines' `rossi` data (time to re-arrest after release from prison, in weeks; `fin` = financial aid), split across three sites. The sites estimate Kaplan–Meier curves for each group and compare them with the log-rank test, releasing only the curves at the agreed weeks and the test statistic. The weeks are about two months apart: under the sites' default policies every released count (at risk at each week, re-arrests and censorings between two weeks, in each group) must be 0 or at least 3, and a monthly grid has intervals with one or two re-arrests in the aid group, so its curves would be withheld.
"""
                ),
                *connect(site, "import matplotlib.pyplot as plt\n"),
                code(SURVIVAL_DATA.format(index=index)),
                code(
                    """
%%smpc --reveal aid, no_aid, test
weeks = [8, 17, 26, 35, 43, 52]
aid = smpc.stats.kaplan_meier(cohort['week'], cohort['arrest'], weeks, where=cohort['fin'])
no_aid = smpc.stats.kaplan_meier(cohort['week'], cohort['arrest'], weeks, where=1 - cohort['fin'])
test = smpc.stats.logrank(cohort['week'], cohort['arrest'], cohort['fin'])
"""
                ),
                code(
                    """
fig, ax = plt.subplots(figsize=(7, 4))
aid.plot(ax, label="financial aid")
no_aid.plot(ax, label="no aid")
ax.set_xlabel("weeks since release")
ax.set_ylabel("not re-arrested")
ax.legend()
ax.set_title(test.summary())
plt.show()
"""
                ),
                code("print(aid.summary())\nprint(test.summary())"),
            ],
        )


# ----- the template a new study copies ------------------------------------------------------------
TEMPLATE_DATA = """
DATA_FILE = "my_site_data.csv"  # this site's extract, with the columns the study schema declares

if Path(DATA_FILE).exists():
    cohort = pd.read_csv(DATA_FILE)
else:  # synthetic rows so the template runs as it is (smpc demo --study template)
    rng = np.random.default_rng(abs(hash(SITE)) % 2**32)
    n = 500
    cohort = pd.DataFrame({
        "age": rng.integers(18, 90, n),
        "sex": rng.choice(["female", "male"], n),
        "sbp": np.round(rng.normal(130, 15, n).clip(80, 220), 1),
        "event": (rng.random(n) < 0.1).astype(int),
    })

%smpc private cohort
"""


def template() -> None:
    write(
        "template",
        "site",
        [
            markdown(
                """
# Site notebook template

Copy this folder for a new study: every site runs a copy of this notebook. Edit `study.toml` (the study schema: variables, units, ranges, levels) with the other sites and share it; put this site's name in `SITE`; point `DATA_FILE` at this site's extract; write the analysis in the `%%smpc` cells, identically at every site. `smpc schema draft DATAFILE` proposes a first schema from a data file and `smpc schema check study.toml DATAFILE` lists the rows that break it.
"""
            ),
            code(
                """
import os
from pathlib import Path

import numpy as np
import pandas as pd

SITE = os.environ.get("SMPC_SITE", "my_site")  # this site's party name in the session file
session = os.environ.get("SMPC_SESSION", "study/session.toml")
"""
            ),
            code("%load_ext smpc_magic\n%smpc connect {session} --as {SITE}"),
            markdown("## This site's data\n\nChecked against the study schema when marked private."),
            code(TEMPLATE_DATA),
            markdown("## The joint analysis\n\nOnly the names after `--reveal` leave the secure computation."),
            code(
                """
%%smpc --reveal means, spread, model, table
means = smpc.stats.mean(cohort[['age', 'sbp']])  # (describe's min and max are one patient's each)
spread = smpc.stats.std(cohort[['age', 'sbp']])
model = smpc.stats.ols(cohort[['age', 'sex=female']], cohort['sbp'])
table = smpc.stats.crosstab(cohort.categorical('sex'), cohort['event'])
"""
            ),
            code("print(means, spread)\nprint(model.summary())\nprint(table.summary())"),
            code("%smpc audit"),
        ],
    )


if __name__ == "__main__":
    from generate_governance import governance

    governance()
    template()
    quickstart()
    anticoagulant_safety()
    breast_cancer()
    survival()
