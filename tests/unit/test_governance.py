"""Site policies, signed approvals and the audit hash chain, without any network."""

import json

import numpy as np
import pytest

from kernel_bridge.keys import generate_keypair, write_keypair
from smpc_magic.errors import PolicyError
from smpc_magic.governance.approvals import ApprovalBook, CellRequest
from smpc_magic.governance.audit_chain import AuditChain, verify_chain
from smpc_magic.governance.policy import OPEN, SitePolicy, load_policy, policy_path, strictest, write_policy
from smpc_magic.governance.signing import (
    CustodianKey,
    SigningKey,
    audit_public_key,
    custodian_public_path,
    verify,
)


@pytest.fixture
def key(tmp_path):
    keys = generate_keypair()
    path = write_keypair(tmp_path / "keys" / "north.key", keys, "north")
    return path, SigningKey(keys)


@pytest.fixture
def custodian(key):
    """The custodian's own key; its public half beside the site's key, where the kernel reads it."""
    path, _ = key
    custodian = CustodianKey.generate()
    custodian.write_public(custodian_public_path(path), "north")
    return custodian


def test_the_written_policy_reads_back_with_datashield_defaults(tmp_path):
    path = write_policy(tmp_path / "north.policy.toml", SitePolicy(), "north")
    text = path.read_text()
    assert "nfilter.tab" in text and "nfilter.glm" in text  # every setting is explained
    policy = load_policy(path)
    assert (policy.min_count, policy.min_rows, policy.max_parameter_ratio, policy.max_levels) == (3, 3, 0.33, 40)
    assert policy == SitePolicy() and not policy.row_level and policy.recipients == ("*",)


@pytest.mark.parametrize(
    "edit, message",
    [
        ("min_count = 3", "min_count = -1"),
        ("min_count = 3", 'min_count = "three"'),
        ("dominance_share = 1.0", "dominance_share = 1.5"),
        ("row_level = false", "row_level = 0"),
        ('recipients = ["*"]', "recipients = []"),
        ("[approval]", "[approvals]"),
        ("zero_counts = true", "zero_counts = true\nmin_cell = 4"),
    ],
)
def test_a_malformed_policy_is_refused_naming_the_setting(tmp_path, edit, message):
    path = write_policy(tmp_path / "p.toml", SitePolicy(), "north")
    path.write_text(path.read_text().replace(*((edit, message))))
    with pytest.raises(PolicyError, match=str(tmp_path / "p.toml").replace(".", r"\.")):
        load_policy(path)


def test_the_strictest_value_of_each_rule_wins_and_says_which_site_set_it():
    north = SitePolicy(min_count=5, max_parameter_ratio=0.2, recipients=("north", "south"), approval=True)
    south = SitePolicy(min_rows=10, row_level=True, recipients=("south", "west"), dominance_share=0.9)
    effective = strictest({"north": north, "south": south, "west": None})
    rules = effective.rules
    assert (rules.min_count, rules.min_rows, rules.max_parameter_ratio) == (5, 10, 0.2)
    assert rules.dominance_share == 0.9 and not rules.row_level  # north refuses row-level values
    assert rules.recipients == ("south",) and effective.allows_recipient("south")
    assert not effective.allows_recipient("north") and not effective.allows_recipient("west")
    assert effective.approval_sites == ("north",)
    assert effective.set_by["min_count"] == ["north"] and effective.set_by["min_rows"] == ["south"]
    assert effective.digests["west"] == "" and effective.digests["north"] == north.digest
    described = {rule: (value, by) for rule, value, by in effective.describe()}
    assert described["min_rows"] == ("10", "south") and described["approval"][0] == "north"


def test_sites_without_a_policy_file_hold_the_documented_defaults():
    """Privacy is on without any file: no site wrote a policy, yet row-level values, per-site
    values and small counts are refused; only a site's own file opens a rule."""
    effective = strictest({"a": None, "b": None})
    rules = effective.rules
    assert rules == SitePolicy() and rules != OPEN
    assert (rules.min_count, rules.min_rows, rules.row_level, rules.per_site) == (3, 3, False, False)
    assert effective.set_by["min_count"] == ["a (default)", "b (default)"]
    assert strictest({"a": OPEN, "b": OPEN}).rules == OPEN


def test_a_policy_digest_changes_with_any_setting():
    assert SitePolicy().digest == SitePolicy().digest
    assert SitePolicy(min_count=4).digest != SitePolicy().digest
    assert SitePolicy(approval=True).digest != SitePolicy().digest


def test_signatures_verify_only_for_the_signed_message_and_key(key):
    _, signer = key
    other = SigningKey(generate_keypair())
    signature = signer.sign(b"cell")
    assert verify(signer.public_hex, b"cell", signature)
    assert not verify(signer.public_hex, b"cell!", signature)
    assert not verify(other.public_hex, b"cell", signature)
    assert not verify(signer.public_hex, b"cell", "zz")


def request(code="total = x.sum()", reveal=("total",)) -> CellRequest:
    return CellRequest("s1", code, list(reveal), ["north", "south"], "p" * 64, "")


def test_approval_is_of_the_exact_request_and_can_be_revoked(key, custodian):
    path, _ = key
    book = ApprovalBook(path, custodian)
    first = request()
    assert not book.is_approved(first.digest)
    book.add_pending(first)
    assert [r.digest for r in book.pending()] == [first.digest]
    book.approve(first, by="custodian")
    assert book.is_approved(first.digest) and book.pending() == []
    assert not book.is_approved(request(code="total = x.sum() + 0").digest)
    assert not book.is_approved(request(reveal=("total", "top")).digest)
    assert request(code="total = x.sum()\n\n").digest == first.digest  # surrounding blank lines do not count
    book.revoke(first.digest[:8])
    assert not book.is_approved(first.digest)


def test_an_edited_or_foreign_approval_is_refused_not_skipped(key, custodian):
    path, _ = key
    book = ApprovalBook(path, custodian)
    book.approve(request())
    line = json.loads(book.path.read_text())
    line["request"]["reveal"] = ["total", "everything"]
    book.path.write_text(json.dumps(line) + "\n")
    with pytest.raises(PolicyError, match="not signed by the custodian's key"):
        book.is_approved(request().digest)
    book.path.unlink()
    book.head_path.unlink()
    forged = ApprovalBook(path, CustodianKey.generate())  # someone else's key, same file
    with pytest.raises(PolicyError, match="not the one in"):
        forged.approve(request())


def chain_with(tmp_path, signer, n=5) -> AuditChain:
    chain = AuditChain(tmp_path / "audit-north.jsonl", "north", "s1", signer)
    for i in range(n):
        chain.append({"status": "ok", "released": [f"r{i}"], "code": f"r{i} = x.sum()"})
    return chain


def test_an_intact_chain_verifies(tmp_path, key):
    _, signer = key
    chain = chain_with(tmp_path, signer)
    report = verify_chain(chain.path, signer.public_hex)
    assert report.ok, report.problems
    assert report.records == 6 and json.loads(chain.path.read_text().splitlines()[0])["kind"] == "genesis"


@pytest.mark.parametrize(
    "tamper, expected",
    [
        (lambda lines: lines[:2] + [lines[2].replace("r1", "r9")] + lines[3:], "was edited"),
        (lambda lines: lines[:2] + lines[3:], "removed or reordered"),
        (lambda lines: lines[:2] + [lines[3], lines[2]] + lines[4:], "removed or reordered"),
        (lambda lines: lines[:-1], "records at the end were removed"),
        (lambda lines: lines[1:], "start of the log was removed"),
    ],
    ids=["edit", "delete", "reorder", "truncate", "drop-genesis"],
)
def test_editing_deleting_or_reordering_any_record_is_detected(tmp_path, key, tamper, expected):
    _, signer = key
    chain = chain_with(tmp_path, signer)
    lines = chain.path.read_text().splitlines()
    chain.path.write_text("\n".join(tamper(lines)) + "\n")
    report = verify_chain(chain.path, signer.public_hex)
    assert not report.ok and any(expected in p for p in report.problems), report.problems


def test_a_record_edited_and_rehashed_fails_its_signature(tmp_path, key):
    from smpc_magic.governance.audit_chain import _record_hash

    _, signer = key
    chain = chain_with(tmp_path, signer, 1)
    lines = chain.path.read_text().splitlines()
    record = json.loads(lines[1])
    record["released"] = ["something else"]
    record["hash"] = _record_hash(record)
    chain.path.write_text(lines[0] + "\n" + json.dumps(record) + "\n")
    report = verify_chain(chain.path, signer.public_hex)
    assert any("signature does not verify" in p for p in report.problems), report.problems


def test_a_chain_rewritten_with_another_key_is_not_the_sites(tmp_path, key):
    _, signer = key
    other = SigningKey(generate_keypair())
    chain = chain_with(tmp_path, other)
    assert verify_chain(chain.path, other.public_hex).ok  # consistent in itself...
    report = verify_chain(chain.path, signer.public_hex)  # ...but not signed by this site
    assert not report.ok and any("not this site's" in p for p in report.problems)


def test_a_log_written_before_audit_chains_is_kept_aside(tmp_path, key):
    _, signer = key
    old = tmp_path / "audit-north.jsonl"
    old.write_text(json.dumps({"status": "ok", "released": ["a"]}) + "\n")
    chain = chain_with(tmp_path, signer, 1)
    assert (tmp_path / "audit-north.unchained.jsonl").exists()
    assert verify_chain(chain.path, signer.public_hex).ok


def test_the_policy_lives_beside_the_key(tmp_path):
    assert policy_path(tmp_path / "keys" / "north.key") == tmp_path / "keys" / "north.policy.toml"


def test_the_custodians_panel_and_command_line_approve_the_request_the_sites_compute(tmp_path, monkeypatch):
    from kernel_bridge.session import new_session
    from smpc_magic.cli import main
    from smpc_magic.engine.custodian import Custodian, parse_cell
    from smpc_magic.jupyter.custodian import ApprovalPanel, approval_text

    session = new_session(["north", "south"], tmp_path, with_dealer=False)
    assert main(["custodian", "keygen", str(session), "--as", "north"]) == 0
    custodian = Custodian(session, "north")
    cell = tmp_path / "cell.smpc"
    cell.write_text("%%smpc --reveal m, n --to south --public k\nm = x.sum() * k\nn = x.shape[0]")
    code, arguments = parse_cell(cell.read_text())
    assert arguments == {"reveal": ["m", "n"], "to": ["south"], "public": ["k"], "keep": [], "partial": []}
    with pytest.raises(PolicyError, match="--public-values"):
        custodian.request(str(cell))
    values = tmp_path / "public.json"
    values.write_text('{"k": 2}')
    assert main(["approve", str(session), str(cell), "--as", "north", "--public-values", str(values), "--yes"]) == 0
    request = custodian.request(str(cell), {"k": 2})
    assert custodian.book.is_approved(request.digest)
    assert not custodian.book.is_approved(custodian.request(str(cell), {"k": 3}).digest)  # other public values
    # the panel lists a pending request with its code, approves it with a click, and revokes
    other = custodian.request(str(cell), {"k": 5})
    custodian.book.add_pending(other)
    panel = ApprovalPanel(custodian, by="Dr C")
    assert "m = x.sum() * k" in approval_text(custodian) and "k = 5" in approval_text(custodian)
    pending_box = panel.body.children[0]
    pending_box.children[1].click()
    assert custodian.book.is_approved(other.digest) and custodian.pending() == []
    revoke = [box for box in panel.body.children if "approved" in box.children[0].value][0].children[1]
    revoke.click()
    assert len(custodian.approved()) == 1
    records = [json.loads(line) for line in (tmp_path / "audit-north.jsonl").read_text().splitlines()]
    assert [r.get("action") for r in records[1:]] == ["approve", "approve", "revoke"]
    north_public = custodian.config.parties[0].public_key
    assert verify_chain(tmp_path / "audit-north.jsonl", audit_public_key(north_public)).ok
    monkeypatch.setattr("builtins.input", lambda _: "n")  # asked, and declined
    assert main(["approve", str(session), str(cell), "--as", "north", "--public-values", str(values)]) == 1


def test_released_values_are_recorded_small_in_full_large_by_digest():
    from smpc_magic.governance.audit_chain import released_values

    got = released_values({"m": np.float64(2.5), "big": np.zeros(2000), "frame": {"a": np.array([1, 2])}})
    assert got["m"]["value"] == 2.5 and got["m"]["shape"] == []
    assert "value" not in got["big"] and got["big"]["shape"] == [2000] and len(got["big"]["sha256"]) == 64
    assert got["frame['a']"]["value"] == [1, 2]
    assert released_values(None) == {}


@pytest.mark.parametrize("tamper", ["delete", "reorder"])
def test_smpc_audit_verify_exits_1_on_a_removed_or_reordered_record(tmp_path, key, tamper, capsys):
    from smpc_magic.cli import main

    path, signer = key
    chain = chain_with(tmp_path, signer)
    assert main(["audit", "verify", str(chain.path), "--key", str(path)]) == 0
    lines = chain.path.read_text().splitlines()
    lines = lines[:2] + lines[3:] if tamper == "delete" else lines[:2] + [lines[3], lines[2]] + lines[4:]
    chain.path.write_text("\n".join(lines) + "\n")
    assert main(["audit", "verify", str(chain.path), "--key", str(path)]) == 1
    assert "NOT intact" in capsys.readouterr().out


def test_a_custodian_sees_how_many_check_bits_a_cell_can_open():
    from smpc_magic.governance.approvals import CellRequest

    request = CellRequest(session="s", code="m = smpc.stats.mean(x)", reveal=["m"], to=["a"], public="", schema="")
    assert "at most 2 pass/fail bits" in request.describe()
