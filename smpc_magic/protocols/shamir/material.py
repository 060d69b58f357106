"""A Shamir party's randomness for one computation: the PRSS keys agreed in its rendezvous and
a counter of the PRF labels used so far.

There is nothing to store between cells: every computation gets fresh keys (made at random by
each key set's lowest member and sent to the others in the rendezvous), and within one the label
counter only moves forward, so no random sharing, mask or random bit is ever used twice, across
kernel restarts too.
"""

from __future__ import annotations

from typing import Any

from ...errors import PreprocessingError
from ..base import Array, MaterialNeed, MaterialSource
from .prss import Subset


class PrssMaterial(MaterialSource):
    """This party's PRSS keys (installed by the input sharing of each computation)."""

    def __init__(self, party: int):
        self.party = party
        self.keys: dict[Subset, bytes] | None = None
        self.next_label = 0
        self._installed = False
        self._drawn: dict[str, int] = {}

    def install(self, keys: dict[Subset, bytes]) -> None:
        """Fresh keys for a new computation (the label counter starts again: new keys, new streams)."""
        self.keys = dict(keys)
        self.next_label = 0
        self._installed = True

    def labels(self, count: int, kind: str, elements: int) -> int:
        """The first of ``count`` fresh labels; ``elements`` are counted for the audit record."""
        if self.keys is None:
            raise PreprocessingError(
                "the Shamir protocol's shared randomness is set up in the rendezvous of each computation, "
                "and this computation has none; re-run the cell at every site."
            )
        first = self.next_label
        self.next_label += count
        self._drawn[kind] = self._drawn.get(kind, 0) + elements
        return first

    def take(self, kind: str, params: tuple[Any, ...], count: int = 1) -> dict[str, Array]:
        raise PreprocessingError("the Shamir protocol has no dealer: its parties make their randomness themselves")

    @property
    def digest(self) -> str:
        # the same at every party that used the same randomness (the keys themselves differ by party)
        return f"prss:{self.next_label}" if self._installed else ""

    def usage(self) -> list[MaterialNeed]:
        return [MaterialNeed(kind, (), count) for kind, count in sorted(self._drawn.items())]
