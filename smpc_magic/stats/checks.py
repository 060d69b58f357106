"""The statistics' check bits: one public yes/no, opened to every party, that an assumption a
method relies on holds (README, "Statistics"). Nothing else about the data is opened."""

from __future__ import annotations

from typing import Any

from ..secret.core import reveal
from ..secret.precision import public_bound


def any_flagged(flags: Any) -> bool:
    """Open whether any of the secret 0/1 ``flags`` is set: one bit, to everyone (not how many
    are set, which would say more about the data than the check needs)."""
    total = flags.sum() if flags.ndim else flags
    if float(public_bound(total)[1].max()) > 1:  # a count of flags: open only whether it is zero
        total = total > 0.5
    opened = reveal({"check": total})
    assert opened is not None  # every party is a recipient
    return float(opened["check"]) > 0.5
