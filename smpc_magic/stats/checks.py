"""The statistics' check bits: one public yes/no, opened to every party, that an assumption a
method relies on holds (README, "Statistics"). Nothing else about the data is opened."""

from __future__ import annotations

from typing import Any

from ..secret.core import reveal


def any_flagged(flags: Any) -> bool:
    """Open whether any of the secret 0/1 ``flags`` is set (their sum, one value, to everyone)."""
    total = flags.sum() if flags.ndim else flags
    opened = reveal({"check": total})
    assert opened is not None  # every party is a recipient
    return float(opened["check"]) > 0
