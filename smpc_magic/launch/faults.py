"""Fault injection for tests with real processes: a party that sends false shares.

A local job (written by the test on this machine, never by a peer) may ask its party to change
what it sends in rounds with a given label. This checks, end to end, that the Shamir protocol's
openings notice (or correct) a false share and name the site. Nothing here runs in a normal
session: the engine only calls a filter a job installed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]
OutgoingFilter = Callable[[int, str, Sequence[Array]], list[Array]]


def false_shares(label: str, elements: int = 1) -> OutgoingFilter:
    """Flip the lowest bit of the first ``elements`` field elements (uint64 word pairs) of every
    array sent in rounds labelled ``label`` (a share off the polynomial, still in the field
    unless it was p - 1)."""

    def tamper(peer: int, round_label: str, arrays: Sequence[Array]) -> list[Array]:
        if round_label != label:
            return list(arrays)
        out = []
        for array in arrays:
            changed = np.array(array, copy=True)
            if changed.dtype == np.uint64 and changed.ndim >= 1 and changed.shape[-1] == 2:
                flat = changed.reshape(-1, 2)
                flat[:elements, 0] ^= np.uint64(1)
            out.append(changed)
        return out

    return tamper


def from_job(spec: dict[str, Any] | None) -> OutgoingFilter | None:
    """The filter a job's ``"faults"`` entry asks for ({"false_shares": LABEL, "elements": K})."""
    if not spec:
        return None
    return false_shares(str(spec["false_shares"]), int(spec.get("elements", 1)))
