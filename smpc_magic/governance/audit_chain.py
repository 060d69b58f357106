"""A site's audit log as a tamper-evident chain: JSON lines, each carrying the hash of the
record before it and signed with the site's audit key.

Editing a record breaks its hash (or, re-hashed, its signature); removing or reordering
records breaks the sequence numbers and the links; removing the last records disagrees with
the signed head file kept beside the log. :func:`verify_chain` reports every such problem. It
checks against the key it is given, never one the log names: the audit key is computed from
the site's public CurveZMQ key in the session file (:func:`.signing.audit_public_key`), so a
chain rewritten with any other key fails. Someone who holds the site's key (its kernel) can
rewrite the whole chain: keep a copy of the head (or compare computation ids with the peers'
logs) where that matters.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from kernel_bridge.files import atomic_write, open_private

from .signing import SigningKey, verify

log = logging.getLogger("smpc_magic.governance")  # events and public names only, never a value

GENESIS = "0" * 64
_CHAIN_FIELDS = ("seq", "prev", "hash", "signature")


def _record_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k not in ("hash", "signature")}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


#: Released arrays up to this many elements are written into the audit record in full.
RECORDED_ELEMENTS = 1000


def released_values(values: dict[str, Any] | None) -> dict[str, Any]:
    """What this site received, for its audit record: each value's shape and sha256, and the
    values themselves when small (a frame: per column)."""
    out: dict[str, Any] = {}
    for name, value in (values or {}).items():
        if isinstance(value, dict):
            out.update(released_values({f"{name}[{column!r}]": v for column, v in value.items()}))
            continue
        arr = np.asarray(value)
        entry: dict[str, Any] = {
            "shape": list(arr.shape),
            "sha256": hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest(),
        }
        if arr.size <= RECORDED_ELEMENTS:
            entry["value"] = arr.tolist()
        out[name] = entry
    return out


def audit_path(directory: str | os.PathLike[str], party: str) -> Path:
    """A site's audit log: beside the session file."""
    return Path(directory) / f"audit-{party}.jsonl"


def head_path(path: Path) -> Path:
    return path.with_name(path.stem + ".head.json")


class AuditChain:
    """Append-only, signed, hash-linked records; readable only by this site's user."""

    def __init__(self, path: str | os.PathLike[str], party: str, session: str, signer: SigningKey):
        self.path, self.party, self.session, self.signer = Path(path), party, session, signer
        self._retire_unchained_log()

    def _retire_unchained_log(self) -> None:
        """A log written before audit chains, or signed with an earlier key scheme, is kept
        aside (with its head), and a new chain starts."""
        if self.path.exists() and self.path.stat().st_size:
            first = self.path.read_text().splitlines()[0]
            try:
                record = json.loads(first)
                chained = "hash" in record
                other_key = record.get("kind") == "genesis" and record.get("signing_key") != self.signer.public_hex
            except (json.JSONDecodeError, AttributeError):
                chained, other_key = True, False  # a damaged chain is for verify to report, not to hide
            if not chained:
                self.path.rename(self.path.with_name(self.path.stem + ".unchained.jsonl"))
            elif other_key:
                stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
                head = head_path(self.path)
                if head.exists():
                    head.rename(head.with_name(f"{self.path.stem}.other-key-{stamp}.head.json"))
                self.path.rename(self.path.with_name(f"{self.path.stem}.other-key-{stamp}.jsonl"))

    def _tail(self) -> tuple[int, str]:
        records = self.records()
        if not records:
            return -1, GENESIS
        return int(records[-1]["seq"]), str(records[-1]["hash"])

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Add one record (a genesis record first, naming the signing key); returns it as written.
        A lock beside the log lets the kernel and the custodian's commands append in turn."""
        with FileLock(str(self.path) + ".lock", timeout=30):
            seq, prev = self._tail()
            if seq < 0:
                genesis = self._written({"kind": "genesis", "signing_key": self.signer.public_hex}, 0, GENESIS)
                seq, prev = 0, genesis["hash"]
            return self._written(record, seq + 1, prev)

    def _written(self, record: dict[str, Any], seq: int, prev: str) -> dict[str, Any]:
        stamp = {"time": datetime.datetime.now(datetime.UTC).isoformat()}
        full = {"party": self.party, "session": self.session, **stamp, **record, "seq": seq, "prev": prev}
        full["hash"] = _record_hash(full)
        full["signature"] = self.signer.sign(full["hash"].encode())
        fd = open_private(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        with os.fdopen(fd, "a") as handle:
            handle.write(json.dumps(full, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        head = {"seq": seq, "hash": full["hash"], "signature": self.signer.sign(f"head:{seq}:{full['hash']}".encode())}
        atomic_write(head_path(self.path), json.dumps(head).encode())
        log.info("%s: audit record %d (%s) appended to %s", self.party, seq, full.get("kind", "cell"), self.path.name)
        return full

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


@dataclass
class ChainReport:
    """What :func:`verify_chain` found: ``problems`` is empty for an intact chain."""

    path: Path
    records: int = 0
    signing_key: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(path: str | os.PathLike[str], signing_key: str) -> ChainReport:
    """Check every link, hash and signature, and the head, against ``signing_key`` (hex): the
    site's audit key from a trusted source (``audit_public_key`` of its session-file key), never
    the key the log names."""
    path = Path(path)
    report = ChainReport(path)
    if not path.exists():
        report.problems.append(f"{path} does not exist")
        return report
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    records: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            report.problems.append(f"line {number}: not a JSON record (the file was edited)")
            continue
        if not isinstance(record, dict) or not all(k in record for k in _CHAIN_FIELDS):
            report.problems.append(f"line {number}: not a chained audit record")
            continue
        records.append(record)
    report.records = len(records)
    if not records:
        report.problems.append("no records")
        return report
    genesis = records[0]
    named = str(genesis.get("signing_key", "")) if genesis.get("kind") == "genesis" else ""
    if genesis.get("kind") != "genesis" or genesis.get("seq") != 0:
        report.problems.append("record 0 is not the genesis record: the start of the log was removed")
    key = signing_key
    report.signing_key = key
    if named and named != signing_key:
        report.problems.append("the log names a signing key that is not this site's: it was rewritten elsewhere")
    prev = GENESIS
    for i, record in enumerate(records):
        where = f"record {i} (seq {record.get('seq')})"
        if record.get("seq") != i:
            report.problems.append(f"{where}: expected sequence number {i}: a record was removed or reordered")
        if record.get("prev") != prev:
            report.problems.append(f"{where}: does not link to the record before it: removed or reordered")
        if _record_hash(record) != record.get("hash"):
            report.problems.append(f"{where}: its content does not match its hash: the record was edited")
        elif not key or not verify(key, str(record["hash"]).encode(), str(record.get("signature", ""))):
            report.problems.append(f"{where}: the signature does not verify with the site's signing key")
        prev = str(record.get("hash"))
    _check_head(path, records[-1], key, report)
    return report


def _check_head(path: Path, last: dict[str, Any], key: str, report: ChainReport) -> None:
    head_file = head_path(path)
    if not head_file.exists():
        report.problems.append(f"the head file {head_file.name} is missing: the end of the log cannot be checked")
        return
    try:
        head = json.loads(head_file.read_text())
        seq, digest, signature = int(head["seq"]), str(head["hash"]), str(head["signature"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        report.problems.append(f"the head file {head_file.name} is damaged")
        return
    if not key or not verify(key, f"head:{seq}:{digest}".encode(), signature):
        report.problems.append("the head file's signature does not verify")
    elif seq != last.get("seq") or digest != last.get("hash"):
        report.problems.append(
            f"the log ends at record {last.get('seq')} but its signed head says record {seq}: records at the end were removed or added"
        )
