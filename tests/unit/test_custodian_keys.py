"""Custodian controls the analyst cannot undo (issue 22, item 3): approvals signed with the
custodian's own key (the kernel holds only its public half), the approvals file as a signed hash
chain with a signed head, and audit keys that come from the session file, not from the log."""

import json
import stat

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from zmq.utils import z85

from kernel_bridge.keys import generate_keypair, load_keypair
from kernel_bridge.session import load_session, new_session
from smpc_magic.engine import oversight
from smpc_magic.engine.custodian import Custodian
from smpc_magic.errors import PolicyError
from smpc_magic.governance import approvals
from smpc_magic.governance.approvals import ApprovalBook, CellRequest
from smpc_magic.governance.audit_chain import AuditChain, verify_chain
from smpc_magic.governance.policy import SitePolicy, policy_path, write_policy
from smpc_magic.governance.signing import (
    CustodianKey,
    SigningKey,
    audit_public_key,
    custodian_key_path,
    custodian_public_path,
    verify,
)


def request(code="total = x.sum()") -> CellRequest:
    return CellRequest("s1", code, ["total"], ["north", "south"], "p" * 64, "")


@pytest.fixture
def site(tmp_path):
    """A local session; north's policy requires approval and its custodian has a key."""
    session = new_session(["north", "south"], tmp_path)
    custodian = Custodian(session, "north")
    write_policy(policy_path(custodian.key_path), SitePolicy(approval=True), "north")
    custodian.keygen()
    return custodian


class _HkdfSiteKey:
    """The approval key of the old scheme: derived from the site's CurveZMQ secret, so the
    analyst's kernel, which reads that secret, could compute it."""

    def __init__(self, keys):
        seed = HKDF(hashes.SHA256(), 32, None, b"smpc_magic site signing key v1").derive(
            z85.decode(keys.secret.encode("ascii"))
        )
        self._key = Ed25519PrivateKey.from_private_bytes(seed)

    def sign(self, message: bytes) -> str:
        return self._key.sign(message).hex()


def forge(book: ApprovalBook, signer, records: list[dict]) -> None:
    """A well-formed chain and head, signed with ``signer`` instead of the custodian's key."""
    prev, lines = approvals.GENESIS, []
    for seq, record in enumerate(records):
        full = {**record, "seq": seq, "prev": prev, "time": "t", "signer": "x"}
        full["signature"] = signer.sign(approvals._canonical(full))
        lines.append(json.dumps(full, sort_keys=True))
        prev = approvals._line_hash(full)
    book.path.write_text("\n".join(lines) + "\n")
    head = {
        "seq": len(records) - 1,
        "hash": prev,
        "signature": signer.sign(approvals._head_message(len(records) - 1, prev)),
    }
    book.head_path.write_text(json.dumps(head))


# ----- the custodian's key ----------------------------------------------------------------------


def test_keygen_writes_a_private_key_of_its_own_and_its_public_half_beside_the_site_key(site):
    private, public = custodian_key_path(site.key_path), custodian_public_path(site.key_path)
    assert private.name == "north.custodian.key" and public.name == "north.custodian.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600 and stat.S_IMODE(private.parent.stat().st_mode) == 0o700
    key = CustodianKey.load(private)
    assert key.public_hex in public.read_text() and "secret" not in public.read_text()
    site_keys = load_keypair(site.key_path)
    assert key.public_hex not in {SigningKey(site_keys).public_hex, audit_public_key(site_keys.public)}
    with pytest.raises(PolicyError, match="--force"):
        site.keygen()
    # not a function of the site's key: a new one differs, and approvals signed with the old one stop counting
    site.approve(request())
    _, _, retired = site.keygen(force=True)
    assert CustodianKey.load(private).public_hex != key.public_hex and len(retired) == 2
    assert not site.book.is_approved(request().digest)


def test_a_custodian_key_readable_by_others_is_refused(site):
    path = custodian_key_path(site.key_path)
    path.chmod(0o644)
    with pytest.raises(PolicyError, match="chmod 600"):
        CustodianKey.load(path)


# ----- (a) the analyst's kernel cannot approve --------------------------------------------------


def test_the_kernel_side_book_reads_approvals_but_cannot_sign_one(site):
    kernel_book = ApprovalBook(site.key_path)  # what Party holds: the site's key path, no custodian key
    with pytest.raises(PolicyError, match="custodian's own key"):
        kernel_book.approve(request())
    site.approve(request())
    assert kernel_book.is_approved(request().digest)


@pytest.mark.parametrize("scheme", ["site audit key", "key derived from the site's key"])
def test_an_approval_signed_with_the_sites_key_is_refused(site, scheme):
    keys = load_keypair(site.key_path)  # what the analyst's kernel reads to connect
    signer = SigningKey(keys) if scheme == "site audit key" else _HkdfSiteKey(keys)
    book = ApprovalBook(site.key_path)
    forge(book, signer, [{"action": "approve", "digest": request().digest, "by": "analyst"}])
    with pytest.raises(PolicyError, match="line 1 is not signed by the custodian's key"):
        book.is_approved(request().digest)
    # and the same forged chain signed with the custodian's key would have counted
    forge(
        book, CustodianKey.load(custodian_key_path(site.key_path)), [{"action": "approve", "digest": request().digest}]
    )
    assert book.is_approved(request().digest)


def test_the_party_never_opens_the_custodian_key(site, monkeypatch):
    from smpc_magic.engine.party import Party

    site.approve(request())
    custodian_key_path(site.key_path).unlink()  # the custodian took it home

    def refuse(*args, **kwargs):
        raise AssertionError("the kernel opened the custodian's private key")

    monkeypatch.setattr(CustodianKey, "load", refuse)
    party = Party(site.config, "north")
    assert party.approvals.custodian is None
    fields = oversight.rendezvous_fields(party.policy, party.approvals, request())
    assert fields["approved"] is True


def test_without_a_custodian_public_key_a_policy_requiring_approval_refuses_every_cell(tmp_path):
    session = new_session(["north", "south"], tmp_path, with_dealer=False)
    key_path = load_session(session).default_key_path("north")
    policy = SitePolicy(approval=True)
    with pytest.raises(PolicyError, match="smpc custodian keygen SESSION --as SITE"):
        oversight.rendezvous_fields(policy, ApprovalBook(key_path), request())
    assert oversight.rendezvous_fields(SitePolicy(), ApprovalBook(key_path), request())["approved"] is False
    with pytest.raises(PolicyError, match="no custodian key at"):
        Custodian(session, "north").approve(request())


# ----- (b) the approvals chain ------------------------------------------------------------------


def approved_then_revoked(site) -> ApprovalBook:
    site.approve(request("a = x.sum()"))
    site.approve(request())
    site.approve(request("b = x.sum()"))
    site.revoke(request().digest)
    assert not site.book.is_approved(request().digest)
    return ApprovalBook(site.key_path)


@pytest.mark.parametrize(
    "tamper, expected",
    [
        (lambda lines: lines[:-1], "lines at the end were removed"),  # the revocation
        (lambda lines: lines[:1] + lines[2:], "a line was removed or the lines were reordered"),
        (lambda lines: [lines[1], lines[0], *lines[2:]], "a line was removed or the lines were reordered"),
        (lambda lines: [lines[0].replace("a = x.sum()", "a = x.sum() * 2"), *lines[1:]], "line 1 is not signed by"),
        (lambda lines: [*lines, lines[1]], "does not follow"),  # an old approval replayed after the revocation
    ],
    ids=["drop-revocation", "drop-middle", "reorder", "edit", "replay"],
)
def test_a_removed_reordered_or_edited_line_stops_every_cell_needing_approval(site, tamper, expected):
    book = approved_then_revoked(site)
    lines = book.path.read_text().splitlines()
    book.path.write_text("\n".join(tamper(lines)) + "\n")
    with pytest.raises(PolicyError, match=expected) as caught:
        book.is_approved(request().digest)
    assert str(book.path) in str(caught.value)
    with pytest.raises(PolicyError):  # fail closed: no approval at all counts, not even intact ones
        oversight.rendezvous_fields(SitePolicy(approval=True), book, request("a = x.sum()"))


def test_the_head_is_needed_and_must_match(site):
    book = approved_then_revoked(site)
    head = book.head_path.read_text()
    book.head_path.unlink()
    with pytest.raises(PolicyError, match="head .* is missing"):
        book.is_approved(request().digest)
    data = json.loads(head)
    data["seq"] -= 1
    book.head_path.write_text(json.dumps(data))
    with pytest.raises(PolicyError, match="head .* is not signed"):
        book.is_approved(request().digest)
    book.head_path.write_text(head)
    book.path.unlink()  # the whole file, head left: its approvals and revocations are gone
    with pytest.raises(PolicyError, match="file is missing"):
        book.is_approved(request().digest)


def test_the_custodian_does_not_extend_a_broken_chain(site):
    book = approved_then_revoked(site)
    book.path.write_text("\n".join(book.path.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(PolicyError, match="lines at the end were removed"):
        site.approve(request("c = x.sum()"))


def test_an_unchained_approvals_file_is_refused_with_the_fix(site):
    book = ApprovalBook(site.key_path)
    record = {"action": "approve", "digest": request().digest, "signature": "00"}
    book.path.write_text(json.dumps(record) + "\n")
    with pytest.raises(PolicyError, match="before approvals were chained.*approves again"):
        book.is_approved(request().digest)


# ----- (c) the audit key comes from the session file --------------------------------------------


def test_the_audit_key_is_computed_from_the_public_key_alone():
    for _ in range(10):
        keys = generate_keypair()
        signer = SigningKey(keys)
        assert signer.public_hex == audit_public_key(keys.public)
        signature = signer.sign(b"record")
        assert verify(audit_public_key(keys.public), b"record", signature)
        assert not verify(audit_public_key(generate_keypair().public), b"record", signature)


def test_a_chain_signed_with_another_key_fails_against_the_session_key(tmp_path):
    session = load_session(new_session(["north", "south"], tmp_path, with_dealer=False))
    expected = audit_public_key(session.parties[0].public_key)
    forged = AuditChain(tmp_path / "audit-north.jsonl", "north", session.session_id, SigningKey(generate_keypair()))
    forged.append({"status": "ok", "released": ["total"]})
    report = verify_chain(forged.path, expected)
    assert not report.ok and any("not this site's" in p for p in report.problems), report.problems
    assert any("signature does not verify" in p for p in report.problems)
    # the site's own kernel, appending to it, sets the other key's log aside and starts its own
    own = AuditChain(
        forged.path, "north", session.session_id, SigningKey(load_keypair(session.default_key_path("north")))
    )
    own.append({"status": "ok", "released": ["total"]})
    assert verify_chain(own.path, expected).ok
    assert len(list(tmp_path.glob("audit-north.other-key-*.jsonl"))) == 1
