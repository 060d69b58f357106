"""Governance end to end: three real kernels, a real dealer, the custodians' commands run as
real processes. Approval of exact cells, a policy change seen by every site, pooled disclosure
control, and the signed audit chain."""

import re
import subprocess
import sys

import pytest

from kernel_bridge.session import load_session, new_session
from smpc_magic.governance.policy import SitePolicy, policy_path, write_policy
from tests.e2e.kernels import ROOT, connected_sites, run_all
from tests.support.processes import dealer_process

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

NAMES = ["north", "south", "west"]
SUM = "%%smpc --reveal total\ntotal = x.sum()"


def smpc(*args: str) -> subprocess.CompletedProcess:
    """The custodian's command line, as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "smpc_magic.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    directory = tmp_path_factory.mktemp("governance")
    session = new_session(NAMES, directory, timeout=15)
    config = load_session(session)
    # north's custodian requires approval of every cell; south keeps the defaults; west has no policy
    assert smpc("policy", "new", str(session), "--as", "north", "--require-approval").returncode == 0
    assert smpc("custodian", "keygen", str(session), "--as", "north").returncode == 0  # signs north's approvals
    write_policy(policy_path(config.default_key_path("south")), SitePolicy(), "south")
    with dealer_process(session), connected_sites(session, directory, NAMES) as sites:
        data = [
            f"import numpy as np\nx = np.arange({10 * k}, {10 * k + 6}, dtype=float)\n%smpc private x --range 0 40"
            for k in range(3)
        ]
        assert all(r.ok for r in run_all(sites, data))
        yield {"session": session, "sites": sites, "dir": directory, "config": config}


def refused_digest(results) -> str:
    """Every site refused the cell for want of north's approval; the digest they name."""
    for r in results:
        assert not r.ok and r.ename == "ApprovalRequiredError", r.error
        assert "'north'" in r.error and "'south'" not in r.error and "nothing was shared" in r.error
    digests = {re.search(r"approves digest ([0-9a-f]{16})", r.error).group(1) for r in results}
    assert len(digests) == 1
    return digests.pop()


def test_before_any_cell_each_site_sees_the_rules_the_sites_announce(study):
    # each site publishes its policy with its pings: wait until both announcements arrived
    shown = study["sites"][2].run_until("%smpc policy", lambda r: "set by north, south" in r.text)
    text = shown.text  # west has no policy of its own
    assert "site policy: none here" in text and "rules the sites announce" in text, text
    rows = {line.split()[0]: line for line in text.splitlines() if line.startswith("  ")}
    assert "north" in rows["approval"] and "set by north, south" in rows["min_count"], text


def test_a_cell_runs_only_with_the_custodians_approval_of_exactly_that_cell(study):
    sites, session = study["sites"], str(study["session"])
    digest = refused_digest(run_all(sites, SUM))
    listed = smpc("approve", session, "--as", "north", "--pending")
    assert digest in listed.stdout and "total = x.sum()" in listed.stdout and "releases : total" in listed.stdout
    approved = smpc("approve", session, digest, "--as", "north", "--yes", "--by", "Dr Custodian")
    assert approved.returncode == 0, approved.stderr
    results = run_all(sites, SUM)
    assert all(r.ok for r in results), [r.error for r in results]
    assert float(sites[2].run("print(total)").text) == sum(range(6)) + sum(range(10, 16)) + sum(range(20, 26))
    # one character of the code, or one more released name, is another cell: approve it again
    changed = refused_digest(run_all(sites, SUM.replace("x.sum()", "x.sum() + 0")))
    assert changed != digest
    wider = "%%smpc --reveal total top\ntotal = x.sum()\ntop = x.sum()"
    refused_digest(run_all(sites, wider))
    # approving from the cell file the analyst sent gives the same digest the sites compute
    cell_file = study["dir"] / "wider.smpc"
    cell_file.write_text(wider)
    assert smpc("approve", session, str(cell_file), "--as", "north", "--yes").returncode == 0
    assert all(r.ok for r in run_all(sites, wider))
    # a revoked approval stops the cell again
    revoked = smpc("revoke", session, digest[:10], "--as", "north")
    assert revoked.returncode == 0, revoked.stderr
    assert refused_digest(run_all(sites, SUM)) == digest


def test_a_policy_changed_between_two_runs_is_seen_at_every_site_and_applies(study):
    sites, config = study["sites"], study["config"]
    mean = "%%smpc --reveal m\nm = smpc.stats.mean(x)"
    digest = refused_digest(run_all(sites, mean))
    assert smpc("approve", str(study["session"]), digest, "--as", "north", "--yes").returncode == 0
    assert all(r.ok for r in run_all(sites, mean))
    # south's custodian now wants at least 20 pooled rows behind any statistic (there are 18)
    write_policy(policy_path(config.default_key_path("south")), SitePolicy(min_rows=20), "south")
    results = run_all(sites, mean)
    for r in results:
        assert not r.ok and r.ename == "DisclosureError", r.error
        assert "'m' failed the min_rows rule" in r.error and "Nothing of this cell was released" in r.error
    status = sites[0].run("%smpc policy")
    assert "min_rows" in status.text
    write_policy(policy_path(config.default_key_path("south")), SitePolicy(), "south")
    results = run_all(sites, mean)
    assert all(r.ok for r in results), [r.error for r in results]
    assert all("the policy of south changed since the last cell" in r.text for r in results)
    # a policy file its site cannot read stops every site at once, not by a timeout
    west_policy = policy_path(config.default_key_path("west"))
    west_policy.write_text("[disclosure]\nmin_count = -1\n")
    results = run_all(sites, mean, timeout=30)
    assert all(not r.ok and r.ename == "PolicyError" for r in results), [r.error for r in results]
    assert "min_count must be a whole number" in results[2].error
    assert "policy file of site 'west' could not be read" in results[0].error
    west_policy.unlink()
    assert all(r.ok for r in run_all(sites, mean))


def test_every_release_is_in_a_verified_audit_chain(study):
    directory = study["dir"]
    for name in NAMES:
        log = directory / f"audit-{name}.jsonl"
        verified = smpc("audit", "verify", str(log))
        assert verified.returncode == 0 and "intact" in verified.stdout, verified.stdout + verified.stderr
    shown = study["sites"][0].run("%smpc audit")
    page = next(o["text/html"] for o in shown.outputs if "text/html" in o)
    assert "<table" in page and "withheld (min_rows)" in page and "approve" in shown.text
    # north's log holds the approvals, the full cell text and the rules each release passed
    records = (directory / "audit-north.jsonl").read_text()
    assert '"kind": "approval"' in records and "total = x.sum()" in records and '"rule": "min_rows"' in records
    assert '"checks_opened": "at most 2 pass/fail bits' in records  # the bits a cell can open, recorded
    # an edit anywhere is detected
    lines = records.splitlines()
    edited = directory / "edited.jsonl"
    edited.write_text("\n".join(lines[:3] + [lines[3].replace("total", "totaI")] + lines[4:]) + "\n")
    (directory / "edited.head.json").write_text((directory / "audit-north.head.json").read_text())
    assert smpc("audit", "verify", str(edited), "--key", str(study["config"].default_key_path("north"))).returncode == 1


def test_a_kept_secret_carries_the_rows_behind_it_to_a_later_release(study):
    sites, session = study["sites"], str(study["session"])
    keep = "%%smpc --keep doubled\ndoubled = x * 2"
    later = "%%smpc --reveal doubled\ndoubled = doubled + 0"
    for cell in (keep, later):
        digest = refused_digest(run_all(sites, cell))
        assert smpc("approve", session, digest, "--as", "north", "--yes").returncode == 0
    assert all(r.ok for r in run_all(sites, keep))
    results = run_all(sites, later)  # 18 values, one per patient: row-level, whichever cell made them
    for r in results:
        assert not r.ok and r.ename == "DisclosureError" and "row_level" in r.error, r.error
