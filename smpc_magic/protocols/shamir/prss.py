"""Pseudo-random secret sharing (Cramer, Damgard and Ishai; as MPyC uses it): Shamir shares of
random field elements with no communication once keys are set up (work in progress: the suite
that will use it is not written yet).

For every set A of n - t parties there is a key that exactly the members of A know. The random
value is r = sum over A of PRF(k_A, label), and party i's share is
sum over the sets A holding i of PRF(k_A, label) * f_A(x_i), where f_A is the polynomial of
degree t with f_A(0) = 1 that vanishes at the t parties outside A. Any t parties miss the key of
the set of the others, so r is uniform to them. The number of sets, C(n, t), is small for the
site counts of a study (10 for n = 5, t = 2).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping

from ..prg import SEED_BYTES, expand, new_seed
from . import field
from .field import Array, P
from .polynomial import points

Subset = tuple[int, ...]


def subsets(n: int, t: int) -> list[Subset]:
    """The sets of n - t parties (0-based), in a fixed order every party agrees on."""
    return list(itertools.combinations(range(n), n - t))


@functools.lru_cache(maxsize=1024)
def vanishing_at(n: int, subset: Subset, party: int) -> int:
    """f_A(x_party) for the degree-t polynomial with f_A(0) = 1 and f_A(x_j) = 0 for j not in A."""
    xs = points(n)
    value = 1
    for j in range(n):
        if j not in subset:
            value = value * (xs[party] - xs[j]) % P * field.inverse(-xs[j] % P) % P
    return value


def deal_keys(n: int, t: int) -> list[dict[Subset, bytes]]:
    """Fresh keys for every set, as each party would hold them after the setup exchange (in a
    session, the lowest member of each set makes its key and sends it to the others)."""
    keys = {a: new_seed() for a in subsets(n, t)}
    return [{a: k for a, k in keys.items() if i in a} for i in range(n)]


def _prf(key: bytes, label: int, count: int) -> Array:
    if len(key) != SEED_BYTES:
        raise ValueError("a PRSS key must be 32 bytes")
    return field.random(expand(key, label, 2 * count).reshape(count, 2))


def random_shares(party: int, n: int, keys: Mapping[Subset, bytes], label: int, count: int) -> Array:
    """This party's shares (degree t) of ``count`` random values, without communication.
    ``label`` must be fresh for every call (the same label gives the same values)."""
    total = field.zeros((count,))
    for subset, key in sorted(keys.items()):
        if party not in subset:
            raise ValueError("a party holds keys only of sets it belongs to")
        weight = field.scalar(vanishing_at(n, subset, party))
        total = field.add(total, field.mul(_prf(key, label, count), weight))
    return total


def value_of(all_keys: Mapping[Subset, bytes], label: int, count: int) -> Array:
    """The random values themselves (tests: only someone holding every key can compute this)."""
    total = field.zeros((count,))
    for _, key in sorted(all_keys.items()):
        total = field.add(total, _prf(key, label, count))
    return total


__all__ = ["deal_keys", "random_shares", "subsets", "value_of", "vanishing_at"]
