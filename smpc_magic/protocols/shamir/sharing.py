"""Input sharing for the Shamir protocol, and the PRSS key setup that rides on the rendezvous.

The rendezvous message to each peer carries (a) the PRSS keys of the key sets whose lowest
member this party is and that the peer belongs to, and (b) a 32-byte seed. An input of owner o
is shared on a random polynomial f of degree t with f(0) = x whose values at the t parties after
o (in session order) are the expansions of the seeds o sent them: those parties need no
message. The remaining n - t - 1 parties receive their share f(x_j) from the owner in one round
per input (data-sized; no t parties learn anything, since t values of f besides f(0) are
uniform whichever t they are).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..base import Array, InputSharing
from ..channel import ArraySpec, Message
from ..prg import SEED_BYTES, expand, new_seed
from . import field, prss
from .field import P
from .material import PrssMaterial
from .opening import from_wire, settings, to_wire
from .polynomial import lagrange_at, points

if TYPE_CHECKING:
    from ..context import ProtocolContext


def seed_holders(owner: int, n: int, t: int) -> list[int]:
    """The t parties whose shares of the owner's inputs come from seeds."""
    return [(owner + 1 + k) % n for k in range(t)]


@functools.lru_cache(maxsize=256)
def _weights(n: int, owner: int, t: int, target: int) -> tuple[int, ...]:
    """Coefficients of f(x_target) in (f(0), f(x_h) for the seed holders h)."""
    xs = points(n)
    known = (0, *(xs[h] for h in seed_holders(owner, n, t)))
    return lagrange_at(known, xs[target])


class ShamirInputSharing(InputSharing):
    """Keys and seeds in the rendezvous; then one round per input for its data-sized shares."""

    def __init__(self, ctx: ProtocolContext):
        self.ctx = ctx
        self.me, self.n = ctx.party, ctx.n_parties
        self.t, _ = settings(ctx)
        self.sets = prss.subsets(self.n, self.t)
        self.made = {a: new_seed() for a in self.sets if a[0] == self.me}  # sets whose lowest member is me
        self.seeds = {j: new_seed() for j in range(self.n) if j != self.me}
        self.got_seeds: dict[int, bytes] = {}

    def outgoing(self) -> dict[int, list[Array]]:
        out = {}
        for j in range(self.n):
            if j == self.me:
                continue
            keys = np.zeros((len(self.sets), SEED_BYTES), dtype=np.uint8)
            for k, subset in enumerate(self.sets):
                if subset in self.made and j in subset:
                    keys[k] = np.frombuffer(self.made[subset], np.uint8)
            out[j] = [keys, np.frombuffer(self.seeds[j], np.uint8)]
        return out

    def expected(self) -> list[ArraySpec]:
        return [ArraySpec("uint8", (len(self.sets), SEED_BYTES)), ArraySpec("uint8", (SEED_BYTES,))]

    def receive(self, arrays: Mapping[int, Sequence[Array]]) -> None:
        keys: dict[prss.Subset, bytes] = {}
        for k, subset in enumerate(self.sets):
            if self.me not in subset:
                continue
            lowest = subset[0]
            keys[subset] = self.made[subset] if lowest == self.me else bytes(np.asarray(arrays[lowest][0][k]).tobytes())
        self.got_seeds = {j: bytes(np.asarray(a[1], dtype=np.uint8).tobytes()) for j, a in arrays.items()}
        material = self.ctx.material
        if not isinstance(material, PrssMaterial):
            raise TypeError("the Shamir suite needs its own material source")
        material.install(keys)

    def share(self, index: int, owner: int, shape: tuple[int, ...], encoded: Array | None) -> Array:
        size = int(np.prod(shape, dtype=np.int64))
        holders = seed_holders(owner, self.n, self.t)
        others = [j for j in range(self.n) if j != owner and j not in holders]
        label = "input sharing"
        step = self.ctx.next_step()
        if self.me in holders:
            return _from_seed(self.got_seeds[owner], index, size).reshape(shape)
        if self.me != owner:
            spec = [ArraySpec("uint64", (*shape, 2))]
            got = self.ctx.channel.exchange(step, label, {}, {owner: spec})
            return from_wire(got[owner].arrays[0], self.ctx.channel.party_names[owner], label)
        if encoded is None:
            raise ValueError("the owner of an input must give its encoded value")
        secret = np.asarray(encoded, dtype=field.ELEMENT).reshape(-1)
        values = [secret, *(_from_seed(self.seeds[h], index, size) for h in holders)]

        def at(target: int) -> Array:
            weights = _weights(self.n, owner, self.t, target)
            return field.linear([(w if w <= P // 2 else w - P, v) for w, v in zip(weights, values)])

        if others:
            outgoing = {j: Message([to_wire(at(j).reshape(shape))]) for j in others}
            self.ctx.channel.exchange(step, label, outgoing, {})
        return at(owner).reshape(shape)


def _from_seed(seed: bytes, index: int, size: int) -> Array:
    return field.random(expand(seed, index, 2 * size).reshape(size, 2))
