"""An in-process dealer for in-memory parties (unit tests of protocol math only)."""

from __future__ import annotations

import threading
from typing import Any

from ..base import Array, MaterialSource
from ..prg import new_seed
from .kinds import PartyMaterial, deal, expand_share, stream_key


class LocalDealer:
    """The k-th request of a stream gets the k-th deal at every party, as with the real dealer."""

    def __init__(self, n_parties: int):
        self.n_parties = n_parties
        self._lock = threading.Lock()
        self._deals: dict[tuple[str, int], tuple[int, list[PartyMaterial]]] = {}
        self.taken: dict[tuple[int, str], int] = {}

    def source(self, party: int) -> MaterialSource:
        return _LocalSource(self, party)

    def take(self, party: int, kind: str, params: tuple[Any, ...], count: int) -> dict[str, Array]:
        key = stream_key(kind, params)
        with self._lock:
            seq = self.taken.get((party, key), 0)
            self.taken[(party, key)] = seq + 1
            if (key, seq) not in self._deals:
                self._deals[(key, seq)] = (count, deal(kind, params, count, new_seed(), self.n_parties))
            dealt_count, mats = self._deals[(key, seq)]
        if dealt_count != count:
            raise AssertionError(f"parties asked for different amounts of {key}")
        return expand_share(kind, params, count, party, mats[party])


class _LocalSource(MaterialSource):
    def __init__(self, dealer: LocalDealer, party: int):
        self.dealer, self.party = dealer, party

    def take(self, kind: str, params: tuple[Any, ...], count: int = 1) -> dict[str, Array]:
        return self.dealer.take(self.party, kind, params, count)
