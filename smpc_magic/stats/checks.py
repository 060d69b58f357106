"""The statistics' checked assumptions (a matrix inverse converged, every group has events, ...).

A check is never opened where it happens: :func:`require_none` records a secret 0/1 flag with the
error it stands for, and the computation goes on (a failed assumption only makes numbers that
will not be released). At the end of the cell the engine opens one bit for the precision checks
and one for all the others, together with the disclosure rules (:func:`smpc_magic.governance.disclosure.check_releases`). So a cell
cannot observe, catch or count checks: a failure stops the cell at every site and nothing of it
is released.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import NumericalRangeError
from ..secret.precision import public_bound


@dataclass(frozen=True)
class PendingCheck:
    """One deferred check: ``flag`` is a secret 0/1 (1: the assumption failed)."""

    flag: Any
    message: str
    what: str
    kind: type[NumericalRangeError] = NumericalRangeError


def require_none(flags: Any, error: NumericalRangeError) -> None:
    """Defer the check that none of the secret 0/1 ``flags`` is set (only whether any is set is
    ever opened, at the end of the cell, combined with every other check of its kind: a
    ``PrecisionError`` with the precision checks, any other error with the rest)."""
    message = str(error)
    what = message.split(":", 1)[0] if ":" in message else "a statistic"
    total = flags.sum() if flags.ndim else flags
    if float(public_bound(total)[1].max()) > 1:  # a count of flags: only whether it is zero counts
        total = total > 0.5
    pending(total._ctx).append(PendingCheck(total, message, what, type(error)))


def pending(ctx: Any) -> list[PendingCheck]:
    """The checks deferred so far in this computation."""
    found: list[PendingCheck] = ctx.checks
    return found
