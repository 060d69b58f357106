"""Custodian approval of exact cells, signed with the site's key.

A cell request is everything that decides what a cell does and releases: its code, the names
it reveals and to whom, its public values, the study schema, what it keeps and which inputs may
be partial. Its digest is what a custodian approves. Approvals (and revocations) are appended
to ``keys/SITE.approvals.jsonl`` beside the site's key, each signed with the site's signing
key; a line that does not verify is refused, not skipped. A cell refused for want of approval
is left in ``keys/SITE.pending/`` for the custodian to review (``smpc approve --pending``).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kernel_bridge.files import atomic_write, open_private, private_dir

from ..errors import PolicyError
from .signing import SigningKey, verify


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
        lines.append("  code:")
        lines += [f"    {line}" for line in self.code.strip().splitlines()]
        return "\n".join(lines)


def approvals_path(key_path: str | os.PathLike[str]) -> Path:
    key = Path(key_path)
    return key.with_name(key.stem + ".approvals.jsonl")


def _canonical(record: dict[str, Any]) -> bytes:
    return json.dumps({k: v for k, v in record.items() if k != "signature"}, sort_keys=True).encode()


class ApprovalBook:
    """One site's approvals, revocations and pending requests."""

    def __init__(self, key_path: str | os.PathLike[str], signer: SigningKey):
        self.path = approvals_path(key_path)
        key = Path(key_path)
        self.pending_dir = key.with_name(key.stem + ".pending")
        self.signer = signer

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
        record = {**record, "time": datetime.datetime.now(datetime.UTC).isoformat(), "signer": self.signer.public_hex}
        record["signature"] = self.signer.sign(_canonical(record))
        private_dir(self.path.parent)
        fd = open_private(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        with os.fdopen(fd, "a") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")

    # ----- what the engine asks -----------------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        """Every record, each checked against this site's signing key."""
        if not self.path.exists():
            return []
        out = []
        for number, line in enumerate(self.path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                ok = isinstance(record, dict) and verify(
                    self.signer.public_hex, _canonical(record), str(record.get("signature", ""))
                )
            except json.JSONDecodeError:
                ok = False
            if not ok:
                raise PolicyError(
                    f"{self.path}, line {number}: an approval record not signed by this site's key; the "
                    "approvals file was edited. Remove the line (or restore the file) and approve again."
                )
            out.append(record)
        return out

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
