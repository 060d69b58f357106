"""What one party learned from a cell, and what its site records in the audit log."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CellOutcome:
    """What one party learned from a cell, and what it records in the audit log."""

    values: dict[str, Any] | None
    released: list[str]
    recipients: list[str]
    shapes: dict[str, list[int]]
    cell_sha256: str
    parties: list[str]
    computation: str
    rounds: int = 0
    bytes_sent: int = 0
    material: list[dict[str, Any]] = field(default_factory=list)  # kind, params, count per stream
    cursors_start: dict[str, int] = field(default_factory=dict)
    kept: dict[str, object] = field(default_factory=dict)
    contributors: dict[str, list[str]] = field(default_factory=dict)  # private name -> sites providing it
    scales: dict[str, int] = field(default_factory=dict)  # released secret -> its fractional bits
    code: str = ""
    rules: list[dict[str, Any]] = field(default_factory=list)  # every disclosure rule checked, and its outcome
    policy: list[tuple[str, str, str]] = field(default_factory=list)  # the effective rules: (rule, value, set by)
    policy_digests: dict[str, str] = field(default_factory=dict)  # site -> its policy's digest ("" = none)
    policy_changed: list[str] = field(default_factory=list)  # sites whose policy changed since the last cell
    approval: dict[str, Any] = field(default_factory=dict)  # the request digest, the sites that required it
    notices: list[str] = field(default_factory=list)  # what the protocol noticed (e.g. corrected false shares)
    errors: dict[str, float] = field(default_factory=dict)  # released secret -> its carried absolute error
