"""The governance walkthrough (notebooks/governance/): three health boards, each with a data
custodian and an analyst. Written from one definition, as every study (see generate.py)."""

from __future__ import annotations

from generate import code, markdown, write

#: board -> (seed, rows with ICH on warfarin, rows with ICH on a DOAC, rows with a prior stroke)
BOARDS = {
    "north": (11, [0], [20, 21], [0, 4, 8, 12, 16, 24, 28, 32, 36]),
    "south": (12, [1], [22, 23, 24], [1, 5, 9, 13, 21, 25, 29, 33]),
    "west": (13, [], [25, 26], [2, 6, 10, 14, 30]),  # one DOAC patient here had a stroke before
}

DATA = """
rng = np.random.default_rng({seed})
n = 40
cohort = pd.DataFrame({{
    "age": rng.integers(45, 90, n),
    "sex": rng.choice(["female", "male"], n),
    "drug": np.where(np.arange(n) < 20, "warfarin", "doac"),
    "prior_stroke": np.isin(np.arange(n), {stroke}).astype(int),
    "followup": rng.uniform(0.5, 3.0, n).round(2),
    "ich": np.isin(np.arange(n), {ich}).astype(int),
}})
%smpc private cohort
"""

UNAPPROVED = "%%smpc --reveal events\nevents = cohort['ich'].sum()"
TABLE = "%%smpc --reveal table\ntable = smpc.stats.crosstab(cohort.categorical('drug'), cohort['ich'])"
STROKES = "%%smpc --reveal strokes\nstrokes = smpc.stats.crosstab(cohort.categorical('drug'), cohort['prior_stroke'])"
RATE = "%%smpc --reveal rate\nrate = smpc.stats.incidence_rate(cohort['ich'], cohort['followup'])"
PLAN = {"table": TABLE, "strokes": STROKES, "rate": RATE}


PANEL_IMPORT = "from smpc_magic.jupyter.custodian import approval_panel\n"


def expected_error(text: str) -> dict:
    """A cell the walkthrough expects to stop with an error (nbclient carries on after it)."""
    cell = code(text)
    cell["metadata"]["tags"] = ["raises-exception"]
    return cell


def custodian_policy(board: str) -> list[dict]:
    if board == "north":
        return [
            markdown(
                "North's custodian writes the policy with the documented defaults (DataSHIELD's: no released count "
                "between 1 and 2, at least 3 rows behind a statistic, ...) and requires **approval of every cell**. "
                "Approvals are signed with the custodian's own key, not the board's: `smpc custodian keygen` makes it, "
                "and the analyst's kernel gets only its public half (`north.custodian.pub`), so it can check an "
                "approval but never make one. (In this demo the private key sits in the keys folder; a real custodian "
                "keeps it on their own account, `--out FILE`, and approves with `--custodian-key FILE`.)"
            ),
            code(
                'smpc(["policy", "new", session, "--as", SITE, "--require-approval", "--force"]);\n'
                'smpc(["custodian", "keygen", session, "--as", SITE, "--force"]);\n'
                'print(open(f"{key_dir}/{SITE}.policy.toml").read())'
            ),
        ]
    if board == "south":
        return [
            markdown("South's custodian keeps the defaults but wants at least 10 pooled rows behind any statistic."),
            code(
                'smpc(["policy", "new", session, "--as", SITE, "--force"]);\n'
                'policy_file = f"{key_dir}/{SITE}.policy.toml"\n'
                'text = open(policy_file).read().replace("min_rows = 3", "min_rows = 10")\n'
                'open(policy_file, "w").write(text);\n'
                'smpc(["policy", "show", session, "--as", SITE]);'
            ),
        ]
    return [
        markdown(
            "West's custodian has not written a policy: west sets no rule, but the other boards' rules apply to every cell."
        )
    ]


def plan_approval() -> list[dict]:
    cells = [
        markdown(
            "## Custodian: approve the analysis plan\n\nThe research team agreed the plan: three cells, each "
            "releasing to every board. The analysts sent them as files; north's custodian reviews each one (its code, "
            "what it releases and to whom, the rules that will apply) and approves it, signed with the custodian's key."
        )
    ]
    for name, text in PLAN.items():
        cells.append(code(f"%%writefile plan-{name}.smpc\n{text}"))
    cells.append(
        code(
            'for name in ["table", "strokes", "rate"]:\n'
            '    smpc(["approve", session, f"plan-{name}.smpc", "--as", SITE, "--yes", "--by", "north custodian"]);'
        )
    )
    cells.append(markdown("The same, in a panel the custodian can click (approve pending cells, revoke approvals):"))
    cells.append(code("approval_panel(session, SITE, by='north custodian')"))
    return cells


def governance() -> None:
    for board, (seed, warfarin_ich, doac_ich, stroke) in BOARDS.items():
        panel = PANEL_IMPORT if board == "north" else ""
        cells = [
            markdown(
                f"""
# Governance walkthrough — health board **{board}**

Three health boards pool an anticoagulant safety analysis. At each board a **data custodian** decides what may
leave a computation on the board's data; an **analyst** runs the cells. This notebook walks through the
custodian's side: writing a policy, approving a cell, a release withheld by the *pooled* small-cell rule, and
verifying the audit log. The `%%smpc` cells run jointly at the three boards.
"""
            ),
            code(
                f"""
import os

import numpy as np
import pandas as pd

from smpc_magic.cli import main as smpc  # the `smpc` command line, from Python
{panel}
SITE = "{board}"
session = os.environ.get("SMPC_SESSION", "study/session.toml")
key_dir = os.path.join(os.path.dirname(session), "keys")  # the site's key file, and its policy beside it
"""
            ),
            markdown("## Custodian: this board's policy"),
            *custodian_policy(board),
            *(plan_approval() if board == "north" else []),
            markdown("## Analyst: join the session and mark this board's data private"),
            code(f"%load_ext smpc_magic\n%smpc connect {{session}} --as {board}"),
            code(DATA.format(seed=seed, stroke=stroke, ich=sorted(warfarin_ich + doac_ich))),
            markdown(
                "## A cell outside the plan stops at every board\n\nNorth's custodian has not approved it, so no "
                "board shares anything; the error names north and the digest its custodian would approve."
            ),
            expected_error(UNAPPROVED),
        ]
        if board == "north":
            cells += [
                markdown("North's custodian sees it waiting, and does not approve it:"),
                code('smpc(["approve", session, "--as", SITE, "--pending"]);'),
            ]
        cells += [
            markdown(
                "## ICH by drug: withheld by the pooled small-cell rule\n\nOne patient at north and one at south "
                "had an ICH on warfarin. Neither board alone could tell, but the pooled cell is 2, below the "
                "minimum count of 3: the check runs securely on the pooled table, one pass/fail bit is opened, "
                "and nothing of the cell is released, at any board."
            ),
            expected_error(TABLE),
            markdown(
                "## Prior stroke by drug: released\n\nWest has a single DOAC patient with a prior stroke, but "
                "the pooled cell is well above the threshold, and the pooled table is all anyone sees."
            ),
            code(STROKES),
            code("print(strokes.summary())"),
            markdown("## The pooled incidence of ICH (9 events): released"),
            code(RATE),
            code("print(rate.summary())\n%smpc policy"),
            markdown(
                "## Custodian: the audit log\n\nEvery cell, release, rule checked, approval and refusal is a "
                "record in a hash chain signed with the board's key; `smpc audit verify` checks it against the "
                "board's public key in the session file and detects an edited, removed or reordered record."
            ),
            code("%smpc audit"),
            code(
                'audit_file = os.path.join(os.path.dirname(session), f"audit-{SITE}.jsonl")\nsmpc(["audit", "verify", audit_file]);'
            ),
        ]
        write("governance", board, cells)
