"""n-party additive secret sharing over Z_2^64: x = x_0 + ... + x_{n-1} mod 2^64.

Inputs are shared without sending shares: the owner sends each peer a fresh 32-byte seed (in
the rendezvous message), the peer's share is the seed's AES-CTR expansion, and the owner keeps
x minus the expansions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..base import Array, InputSharing
from ..channel import ArraySpec
from ..prg import SEED_BYTES, expand, new_seed
from .ring import RING_DTYPE, ring_op

if TYPE_CHECKING:
    from ..context import ProtocolContext

SEED_SPEC = ArraySpec("uint8", (SEED_BYTES,))


@ring_op
def share(secret: Array, n_parties: int, seeds: list[bytes] | None = None, label: int = 0) -> list[Array]:
    """Split ``secret`` into ``n_parties`` shares.

    With ``seeds`` (one per party except party 0), the shares of parties 1.. are PRG expansions
    of the seeds and party 0 holds the correction; without, fresh seeds are drawn.
    """
    secret = np.asarray(secret, dtype=RING_DTYPE)
    if seeds is None:
        seeds = [new_seed() for _ in range(n_parties - 1)]
    others = [expand(s, label, secret.size).reshape(secret.shape) for s in seeds]
    first = secret.copy()
    for other in others:
        first -= other
    return [first, *others]


@ring_op
def reconstruct(shares: Sequence[Array]) -> Array:
    """Add the shares back together."""
    total = np.array(shares[0], dtype=RING_DTYPE, copy=True)
    for s in shares[1:]:
        total += s
    return total


class SeedInputSharing(InputSharing):
    """Input sharing by seeds: 32 bytes per peer in the rendezvous, no round of its own."""

    def __init__(self, ctx: ProtocolContext):
        self.me = ctx.party
        self.sent = {j: new_seed() for j in range(ctx.n_parties) if j != ctx.party}
        self.got: dict[int, bytes] = {}

    def outgoing(self) -> dict[int, list[Array]]:
        return {j: [np.frombuffer(seed, np.uint8)] for j, seed in self.sent.items()}

    def expected(self) -> list[ArraySpec]:
        return [SEED_SPEC]

    def receive(self, arrays: Mapping[int, Sequence[Array]]) -> None:
        self.got = {j: bytes(np.asarray(a[0], dtype=np.uint8).tobytes()) for j, a in arrays.items()}

    @ring_op
    def share(self, index: int, owner: int, shape: tuple[int, ...], encoded: Array | None) -> Array:
        size = int(np.prod(shape, dtype=np.int64))
        if owner != self.me:
            return expand(self.got[owner], index, size).reshape(shape)
        if encoded is None:
            raise ValueError("the owner of an input must give its encoded value")
        mine = np.asarray(encoded, dtype=RING_DTYPE).reshape(-1).copy()
        for seed in self.sent.values():
            mine -= expand(seed, index, size)
        return mine.reshape(shape)
