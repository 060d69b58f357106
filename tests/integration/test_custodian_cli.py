"""The custodian's key, the chained approvals file and audit verification from the session file,
with real files, the `smpc` command line as separate processes and real party processes."""

import json
import stat
import subprocess
import sys

import numpy as np
import pytest

from kernel_bridge.keys import generate_keypair
from kernel_bridge.session import load_session, new_session
from smpc_magic.governance.audit_chain import AuditChain
from smpc_magic.governance.policy import SitePolicy, policy_path, write_policy
from smpc_magic.governance.signing import SigningKey, audit_public_key
from smpc_magic.launch.cluster import LocalCluster
from tests.integration.test_faults import cell_job, wait_status, write_inputs

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

CELL = "s = x.sum()"


def smpc(*args):
    return subprocess.run(
        [sys.executable, "-m", "smpc_magic.cli", *map(str, args)], capture_output=True, text=True, timeout=150
    )


def run_cell(cluster, computation: str) -> dict:
    for name in cluster.names:  # no status of an earlier run is taken for this one's
        for old in (cluster.directory / "jobs" / name / "out").glob("*"):
            old.unlink()
    for name in cluster.names:
        inputs = write_inputs(cluster, name, x=np.array([1.5, 2.5, 3.5, 4.5]))
        cluster.start_party(name, cell_job(CELL, inputs, ["s"], computation))
    return wait_status(cluster, cluster.names, 90)


def test_only_the_custodians_key_approves_and_a_removed_revocation_stops_every_site(tmp_path):
    home = tmp_path / "custodian-home"  # the custodian's own account, apart from the site's keys
    with LocalCluster(["north", "south"], timeout=20, directory=str(tmp_path / "study"), ranges={"x": (0, 10)}) as c:
        c.start_dealer()
        session, key = c.session_path, c.key_path("north")
        write_policy(policy_path(key), SitePolicy(approval=True), "north")
        # no custodian key yet: the cell is refused everywhere, saying how to make one
        statuses = run_cell(c, "c1")
        assert not statuses["north"]["ok"] and statuses["north"]["error_type"] == "PolicyError", statuses
        assert "smpc custodian keygen" in statuses["north"]["message"]
        assert not statuses["south"]["ok"]

        made = smpc("custodian", "keygen", session, "--as", "north", "--out", home / "north.custodian.key")
        assert made.returncode == 0, made.stderr
        private = home / "north.custodian.key"
        assert stat.S_IMODE(private.stat().st_mode) == 0o600 and stat.S_IMODE(home.stat().st_mode) == 0o700
        assert (key.parent / "north.custodian.pub").exists() and not (key.parent / "north.custodian.key").exists()

        cell = tmp_path / "cell.smpc"
        cell.write_text(f"%%smpc --reveal s\n{CELL}")
        # without the custodian's key file, nothing can be approved
        refused = smpc("approve", session, cell, "--as", "north", "--yes")
        assert refused.returncode != 0 and "no custodian key at" in refused.stderr
        approved = smpc("approve", session, cell, "--as", "north", "--yes", "--custodian-key", private)
        assert approved.returncode == 0, approved.stderr
        statuses = run_cell(c, "c2")
        assert all(s["ok"] for s in statuses.values()), statuses
        got = np.load(c.directory / "jobs" / "north" / "out" / "values.npz")["s"]
        assert abs(float(got) - 24.0) < 1e-3

        digest = approved.stdout.split("approved ")[-1].split()[0]
        revoked = smpc("revoke", session, digest[:12], "--as", "north", "--custodian-key", private)
        assert revoked.returncode == 0, revoked.stderr
        statuses = run_cell(c, "c3")
        assert statuses["north"]["error_type"] == "ApprovalRequiredError", statuses

        # the analyst deletes the revocation: every site stops, naming the file and the break
        approvals = key.parent / "north.approvals.jsonl"
        lines = approvals.read_text().splitlines()
        assert json.loads(lines[-1])["action"] == "revoke"
        approvals.write_text(lines[0] + "\n")
        statuses = run_cell(c, "c4")
        assert not any(s["ok"] for s in statuses.values()), statuses
        assert statuses["north"]["error_type"] == "PolicyError"
        assert "north.approvals.jsonl" in statuses["north"]["message"]
        assert "lines at the end were removed" in statuses["north"]["message"]
        assert statuses["south"]["error_type"] == "PolicyError"
        assert "approvals cannot be trusted" in statuses["south"]["message"]


def test_audit_verify_takes_the_sites_key_from_the_session_file(tmp_path):
    session = new_session(["north", "south"], tmp_path, with_dealer=False)
    config = load_session(session)
    log = tmp_path / "audit-north.jsonl"
    genuine = AuditChain(log, "north", config.session_id, SigningKey(generate_keypair()))
    genuine.append({"status": "ok", "released": ["s"]})
    # a chain consistent in itself but signed with another key: refused without any --key
    out = smpc("audit", "verify", log)
    assert out.returncode == 1 and "NOT intact" in out.stdout, out.stdout + out.stderr
    assert "north's public key in the session file" in out.stdout and "not this site's" in out.stdout
    forger = json.loads(log.read_text().splitlines()[0])["signing_key"]
    assert smpc("audit", "verify", log, "--key", forger).returncode == 0  # --key HEX overrides
    # the site's own chain verifies, from the session file alone (no key file needed)
    log.unlink()
    (tmp_path / "audit-north.head.json").unlink()
    AuditChain(log, "north", config.session_id, SigningKey(_site_keys(config))).append({"status": "ok"})
    keys_dir = tmp_path / "keys"
    keys_dir.rename(tmp_path / "elsewhere")
    out = smpc("audit", "verify", log)
    assert out.returncode == 0 and "intact" in out.stdout, out.stdout + out.stderr
    printed = smpc("audit", "key", session, "--as", "north")
    assert audit_public_key(config.parties[0].public_key) in printed.stdout
    # south's log passed off as north's is not north's
    south = tmp_path / "audit-south.jsonl"
    log.rename(south)
    (tmp_path / "audit-north.head.json").rename(tmp_path / "audit-south.head.json")
    assert smpc("audit", "verify", south).returncode == 1
    # without a session file to take the key from, nothing is vouched for
    moved = tmp_path / "copy" / "audit-south.jsonl"
    moved.parent.mkdir()
    south.rename(moved)
    out = smpc("audit", "verify", moved)
    assert out.returncode == 1 and "--session" in out.stdout
    assert smpc("audit", "verify", moved, "--session", session, "--as", "north").returncode == 1
    (tmp_path / "audit-south.head.json").rename(tmp_path / "copy" / "audit-south.head.json")
    assert smpc("audit", "verify", moved, "--session", session, "--as", "north").returncode == 0


def _site_keys(config):
    from kernel_bridge.keys import load_keypair

    return load_keypair(config.default_key_path("north"))
