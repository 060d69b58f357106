"""Custodian approval of exact cells, signed with the custodian's own key.

A cell request is everything that decides what a cell does and releases: its code, the names
it reveals and to whom, its public values, the study schema, what it keeps and which inputs may
be partial. Its digest is what a custodian approves.

Approvals and revocations are appended to ``keys/SITE.approvals.jsonl`` beside the site's key,
as a hash chain signed with the custodian's key (:class:`~.signing.CustodianKey`, never the
site's CurveZMQ key, which the analyst's kernel reads): each line carries its sequence number
and the hash of the line before, and a signed head file (``keys/SITE.approvals.head.json``)
names the last line. The kernel holds only the custodian's public key
(``keys/SITE.custodian.pub``) and checks the whole chain before it trusts any approval: a line
edited, removed (the last one, say a revocation, too) or reordered, a line signed with any other
key, or a head that does not match stops every cell that needs approval with a
:class:`~smpc_magic.errors.PolicyError` naming the file and the break (fail closed). Files
written before approvals were chained are refused the same way: the custodian approves again.

What the chain cannot tell: a whole earlier copy of both files put back (a roll-back to before a
revocation) is itself a valid chain. Where the analyst's account can write the keys folder, the
custodian keeps a copy of the head (its ``seq``) to compare, or keeps these files writable only
by the custodian's account. A cell refused for want of approval is left in
``keys/SITE.pending/`` for the custodian to review (``smpc approve --pending``).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from kernel_bridge.files import atomic_write, open_private, private_dir

from ..errors import PolicyError
from .signing import CustodianKey, custodian_public_path, load_custodian_public, verify

#: what a cell opens besides its releases, whatever its code (governance.disclosure.check_releases)
CHECK_BITS = (
    "at most 2 pass/fail bits, to every site at the end: every disclosure rule held; every statistic's "
    "checked assumption held (a failure stops the cell everywhere; the cell cannot catch it)"
)


@dataclass(frozen=True)
class CellRequest:
    """What a custodian approves; ``public_values`` (a readable summary) is shown, the digest
    ``public`` of the exact values is what counts."""

    session: str
    code: str
    reveal: list[str]
    to: list[str]
    public: str
    schema: str
    keep: list[str] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)
    public_values: dict[str, str] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        body = {k: v for k, v in asdict(self).items() if k != "public_values"}
        body["code"] = self.code.strip()
        text = json.dumps(body, sort_keys=True)
        return hashlib.sha256(b"smpc-cell-request-v1\0" + text.encode()).hexdigest()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellRequest:
        try:
            return cls(
                session=str(data["session"]),
                code=str(data["code"]),
                reveal=[str(v) for v in data["reveal"]],
                to=[str(v) for v in data["to"]],
                public=str(data["public"]),
                schema=str(data["schema"]),
                keep=[str(v) for v in data.get("keep", [])],
                partial=[str(v) for v in data.get("partial", [])],
                public_values={str(k): str(v) for k, v in data.get("public_values", {}).items()},
            )
        except (KeyError, TypeError) as exc:
            raise PolicyError(f"not a cell request written by smpc_magic ({exc})") from None

    def describe(self) -> str:
        lines = [
            f"cell request {self.digest[:16]} (session {self.session})",
            f"  releases : {', '.join(self.reveal) or '(nothing)'}",
            f"  to       : {', '.join(self.to)}",
        ]
        if self.public_values:
            lines.append("  public   : " + "; ".join(f"{k} = {v}" for k, v in sorted(self.public_values.items())))
        if self.keep:
            lines.append(f"  keeps    : {', '.join(self.keep)}")
        if self.partial:
            lines.append(f"  partial  : {', '.join(self.partial)}")
        lines.append(f"  schema   : {self.schema[:16] or '(none)'}")
        lines.append(f"  checks   : {CHECK_BITS}")
        lines.append("  code:")
        lines += [f"    {line}" for line in self.code.strip().splitlines()]
        return "\n".join(lines)


def approvals_path(key_path: str | os.PathLike[str]) -> Path:
    key = Path(key_path)
    return key.with_name(key.stem + ".approvals.jsonl")


def approvals_head_path(key_path: str | os.PathLike[str]) -> Path:
    key = Path(key_path)
    return key.with_name(key.stem + ".approvals.head.json")


GENESIS = "0" * 64
_DOMAIN = b"smpc-approval-v2\0"
_HEAD_DOMAIN = "smpc-approvals-head-v2"


def _canonical(record: dict[str, Any]) -> bytes:
    return _DOMAIN + json.dumps({k: v for k, v in record.items() if k != "signature"}, sort_keys=True).encode()


def _line_hash(record: dict[str, Any]) -> str:
    """What the next line links to: the whole record, its signature included."""
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def _head_message(seq: int, digest: str) -> bytes:
    return f"{_HEAD_DOMAIN}:{seq}:{digest}".encode()


class ApprovalBook:
    """One site's approvals, revocations and pending requests.

    The kernel makes it with the site's key path only and can read and check approvals, never
    write one; the custodian's commands pass their :class:`CustodianKey` to sign."""

    def __init__(self, key_path: str | os.PathLike[str], custodian: CustodianKey | None = None):
        self.path = approvals_path(key_path)
        self.head_path = approvals_head_path(key_path)
        self.public_path = custodian_public_path(key_path)
        key = Path(key_path)
        self.pending_dir = key.with_name(key.stem + ".pending")
        self.custodian = custodian

    # ----- the custodian's side -----------------------------------------------------------------
    def approve(self, request: CellRequest, by: str = "") -> str:
        """Record a signed approval of ``request``; returns its digest."""
        self._append({"action": "approve", "digest": request.digest, "request": asdict(request), "by": by})
        (self.pending_dir / f"{request.digest}.json").unlink(missing_ok=True)
        return request.digest

    def revoke(self, digest: str, by: str = "") -> str:
        full = self.resolve(digest)
        self._append({"action": "revoke", "digest": full, "by": by})
        return full

    def _append(self, record: dict[str, Any]) -> None:
        signer = self.custodian
        if signer is None:
            raise PolicyError(
                f"approvals for {self.path.name} are signed with the custodian's own key, which this process does not "
                "hold; the custodian approves with `smpc approve` (or the approval panel) and their key file"
            )
        if signer.public_hex != self.public_key():
            raise PolicyError(
                f"the custodian key given is not the one in {self.public_path} (which the site's kernel trusts); "
                "use the key `smpc custodian keygen` made for this site"
            )
        private_dir(self.path.parent)
        with FileLock(str(self.path) + ".lock", timeout=30):
            chain = self.records()  # never extend a broken chain
            seq, prev = (chain[-1]["seq"] + 1, _line_hash(chain[-1])) if chain else (0, GENESIS)
            stamp = datetime.datetime.now(datetime.UTC).isoformat()
            record = {**record, "time": stamp, "signer": signer.public_hex, "seq": seq, "prev": prev}
            record["signature"] = signer.sign(_canonical(record))
            fd = open_private(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            with os.fdopen(fd, "a") as handle:
                handle.write(json.dumps(record, sort_keys=True) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            digest = _line_hash(record)
            head = {"seq": seq, "hash": digest, "signature": signer.sign(_head_message(seq, digest))}
            atomic_write(self.head_path, json.dumps(head).encode())

    # ----- what the engine asks -----------------------------------------------------------------
    def public_key(self) -> str:
        """The custodian's public key (hex), from ``keys/SITE.custodian.pub``."""
        if not self.public_path.exists():
            raise PolicyError(
                f"this site's policy requires the custodian's approval, but there is no custodian key "
                f"({self.public_path} is missing), so no approval can be checked and no cell runs. The custodian "
                "makes one with `smpc custodian keygen SESSION --as SITE`, then approves cells."
            )
        return load_custodian_public(self.public_path)

    def _broken(self, what: str) -> PolicyError:
        return PolicyError(
            f"{self.path}: {what}. The approvals cannot be trusted, so no cell that needs this site's approval "
            "runs. The custodian restores the file and its head, or removes both and approves the cells again."
        )

    def records(self) -> list[dict[str, Any]]:
        """Every record, after checking the whole chain against the custodian's public key."""
        key = self.public_key()
        if not self.path.exists():
            if self.head_path.exists():
                raise self._broken(f"the file is missing but its head {self.head_path.name} says it had records")
            return []
        out: list[dict[str, Any]] = []
        prev = GENESIS
        for number, line in enumerate(self.path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise self._broken(f"line {number} is not a JSON record (the file was edited)") from None
            if not isinstance(record, dict) or "seq" not in record or "prev" not in record:
                raise self._broken(
                    f"line {number} is not a chained approval record (written before approvals were chained, or "
                    "edited); the custodian removes the file and approves again"
                )
            if not verify(key, _canonical(record), str(record.get("signature", ""))):
                raise self._broken(
                    f"line {number} is not signed by the custodian's key in {self.public_path.name} (edited, or "
                    "signed with another key)"
                )
            if record["seq"] != len(out) or record["prev"] != prev:
                raise self._broken(
                    f"line {number} (seq {record['seq']}) does not follow the line before it: a line was removed "
                    "or the lines were reordered"
                )
            out.append(record)
            prev = _line_hash(record)
        self._check_head(key, out)
        return out

    def _check_head(self, key: str, records: list[dict[str, Any]]) -> None:
        if not self.head_path.exists():
            if records:
                raise self._broken(f"its signed head {self.head_path.name} is missing, so its end cannot be checked")
            return
        try:
            head = json.loads(self.head_path.read_text())
            seq, digest, signature = int(head["seq"]), str(head["hash"]), str(head["signature"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise self._broken(f"its head {self.head_path.name} is damaged") from None
        if not verify(key, _head_message(seq, digest), signature):
            raise self._broken(f"its head {self.head_path.name} is not signed by the custodian's key")
        last_seq, last_hash = (records[-1]["seq"], _line_hash(records[-1])) if records else (-1, GENESIS)
        if seq != last_seq or digest != last_hash:
            raise self._broken(
                f"the file ends at record {last_seq} but its signed head says record {seq}: lines at the end "
                "were removed (a revocation, say) or added"
            )

    def state(self) -> dict[str, dict[str, Any]]:
        """digest -> its last record (an approval or a revocation)."""
        last: dict[str, dict[str, Any]] = {}
        for record in self.records():
            last[record["digest"]] = record
        return last

    def is_approved(self, digest: str) -> bool:
        record = self.state().get(digest)
        return record is not None and record["action"] == "approve"

    def resolve(self, prefix: str) -> str:
        """A full digest from a unique prefix of an approved, revoked or pending one."""
        known = set(self.state()) | {p.stem for p in self.pending_dir.glob("*.json")}
        matches = sorted(d for d in known if d.startswith(prefix.lower()))
        if len(matches) != 1:
            raise PolicyError(
                f"{prefix!r} matches {'no' if not matches else len(matches)} cell requests; give more of the digest"
            )
        return matches[0]

    # ----- pending requests ---------------------------------------------------------------------
    def add_pending(self, request: CellRequest) -> None:
        private_dir(self.pending_dir)
        atomic_write(self.pending_dir / f"{request.digest}.json", json.dumps(asdict(request), indent=1).encode())

    def pending(self) -> list[CellRequest]:
        out = []
        for path in sorted(self.pending_dir.glob("*.json"), key=lambda p: p.stat().st_mtime):
            try:
                out.append(CellRequest.from_dict(json.loads(path.read_text())))
            except (json.JSONDecodeError, PolicyError):
                continue
        return out

    def pending_request(self, digest: str) -> CellRequest:
        full = self.resolve(digest)
        path = self.pending_dir / f"{full}.json"
        if not path.exists():
            raise PolicyError(f"no pending cell request {digest}; `smpc approve --pending` lists them")
        return CellRequest.from_dict(json.loads(path.read_text()))
