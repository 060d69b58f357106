"""Dealer material for real sessions: from this party's store, refilled from the dealer on demand.

The store (kernel_bridge's, reached only through the methods named in :class:`ChunkStore`) holds
each chunk's seed and, at party 0, its correction arrays; this module turns them into shares.
"""

from __future__ import annotations

import hashlib
from typing import Any, Protocol

import numpy as np

from ...errors import PreprocessingError
from ..base import Array, DealerRequest, MaterialNeed, MaterialSource
from .kinds import KINDS, PartyMaterial, expand_share, params_to_json, stream_key


class StoredChunk(Protocol):
    seed: bytes
    arrays: dict[str, Array]
    length: int
    origin: str


class StoredPiece(Protocol):
    chunk: StoredChunk
    offset: int
    take: int


class ChunkStore(Protocol):
    """What this module needs of a party's store (kernel_bridge.store.MaterialStore)."""

    def cursor(self, stream: str) -> int: ...

    def cursors(self) -> dict[str, int]: ...

    def advance(self, positions: dict[str, int]) -> None: ...

    def available(self, stream: str) -> int: ...

    def add(
        self, stream: str, chunk_id: int, start: int, length: int, seed: bytes, arrays: dict[str, Array], origin: str
    ) -> None: ...

    def reserve(self, stream: str, count: int) -> list[Any]: ...

    def release(self, stream: str) -> None: ...


class DealerMaterial(MaterialSource):
    """Material from this party's store, fetched from the dealer when the stock runs short.

    Keeps a running digest of what it handed out (stream, offsets and the dealer state each chunk
    came from); the channel sends it with every message."""

    def __init__(self, store: ChunkStore, party: int, dealer: DealerRequest | None):
        self.store = store
        self.party = party
        self.dealer = dealer
        self._digest = hashlib.sha256()
        self._drawn: dict[str, MaterialNeed] = {}  # per stream: its kind, params and units drawn

    @property
    def digest(self) -> str:
        return self._digest.hexdigest()[:16]

    def usage(self) -> list[MaterialNeed]:
        return list(self._drawn.values())

    def ensure(self, kind: str, params: tuple[Any, ...], count: int) -> None:
        """Make sure ``count`` units of the stream are in the store (the offline phase)."""
        stream = stream_key(kind, params)
        have = self.store.available(stream)
        if have >= count:
            return
        if self.dealer is None:
            raise PreprocessingError(f"no preprocessing material left for {stream} and no dealer to ask")
        start = self.store.cursor(stream) + have
        meta, arrays = self.dealer(
            "fetch", {"kind": kind, "params": params_to_json(params), "start": start, "count": count - have}
        )
        if meta.get("refused"):
            self._skip_lost(stream, meta.get("served_to"))
        self._store_reply(stream, meta, arrays)
        if self.store.available(stream) < count:
            raise PreprocessingError(f"the dealer sent too little material for {stream}")

    def issued(self, streams: list[str]) -> dict[str, int]:
        """How far the dealer has issued each stream (to bound what peers say they used)."""
        if self.dealer is None:
            return {}
        meta, _ = self.dealer("issued", {"streams": streams})
        ends = meta.get("ends")
        if not isinstance(ends, dict):
            raise PreprocessingError("the dealer's answer is malformed")
        return {s: int(v) for s, v in ends.items() if isinstance(v, int) and not isinstance(v, bool)}

    def _skip_lost(self, stream: str, served_to: object) -> None:
        """The dealer gave this party material it no longer has: move past it, never reuse it."""
        if not isinstance(served_to, int) or isinstance(served_to, bool) or served_to < 0:
            raise PreprocessingError("the dealer's answer is malformed")
        self.store.advance({stream: served_to})
        raise PreprocessingError(
            f"this site's store lacks preprocessing material ({stream}) that the dealer already gave it "
            "(lost in a crash, or the store folder was replaced). The dealer never serves material twice, "
            "so this site moved past it; run the cell again at every site."
        )

    def _store_reply(self, stream: str, meta: dict[str, Any], arrays: list[Array]) -> None:
        chunks = meta.get("chunks")
        if meta.get("stream") != stream or not isinstance(chunks, list):
            raise PreprocessingError(f"the dealer answered with the wrong material (asked for {stream})")
        pos = 0
        for info in chunks:
            if not isinstance(info, dict):
                raise PreprocessingError("the dealer's answer is malformed")
            names = info.get("arrays", [])
            fields = [info.get(k) for k in ("chunk_id", "start", "length")]
            if not isinstance(names, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in fields):
                raise PreprocessingError("the dealer's answer is malformed")
            if pos + 1 + len(names) > len(arrays):
                raise PreprocessingError("the dealer's answer is incomplete")
            seed = arrays[pos]
            if seed.dtype != np.uint8 or seed.shape != (32,):
                raise PreprocessingError("the dealer sent a malformed seed")
            parts = dict(zip(names, arrays[pos + 1 : pos + 1 + len(names)]))
            if any(part.dtype != np.uint64 for part in parts.values()):
                raise PreprocessingError("the dealer sent material of the wrong type")
            pos += 1 + len(names)
            chunk_id, start, length = (int(v) for v in fields)  # type: ignore[arg-type]
            self.store.add(stream, chunk_id, start, length, seed.tobytes(), parts, str(meta.get("epoch", "")))

    def take(self, kind: str, params: tuple[Any, ...], count: int = 1) -> dict[str, Array]:
        spec = KINDS[kind]
        units = count if spec.flat else 1
        stream = stream_key(kind, params)
        self.ensure(kind, params, units)
        start = self.store.cursor(stream)
        pieces: list[StoredPiece] = self.store.reserve(stream, units)
        parts: dict[str, list[Array]] = {}
        for piece in pieces:
            chunk = piece.chunk
            material = PartyMaterial(chunk.seed, chunk.arrays)
            if spec.flat:
                got = expand_share(kind, params, chunk.length, self.party, material, piece.offset, piece.take)
            else:
                got = expand_share(kind, params, 1, self.party, material)
            for name, arr in got.items():
                parts.setdefault(name, []).append(arr)
        self.store.release(stream)
        # the dealer state each chunk came from is part of the digest: a party holding chunks of an
        # earlier dealer state (its records were lost) is caught at the next round
        origins = ",".join(sorted({p.chunk.origin for p in pieces}))
        self._digest.update(f"{stream}@{start}+{units}:{origins};".encode())
        before = self._drawn.get(stream)
        self._drawn[stream] = MaterialNeed(kind, params, units + (before.count if before else 0))
        return {name: arrs[0] if len(arrs) == 1 else np.concatenate(arrs) for name, arrs in parts.items()}
