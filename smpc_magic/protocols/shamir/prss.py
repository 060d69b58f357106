"""Pseudo-random secret sharing (Cramer, Damgard and Ishai; as MPyC uses it): Shamir shares of
random field elements, of zero and of random bits with no communication once keys are set up.

For every set A of n - t parties there is a key that exactly the members of A know (made by its
lowest member and sent to the others in the rendezvous of each computation). Party i's share of
a random value is sum over the sets A holding i of PRF(k_A, label) * g_A(x_i), where g_A is a
polynomial of degree t that vanishes at the t parties outside A. Any t parties miss the key of
the set of the others, so the value is uniform to them. The number of sets, C(n, t), is small
for the site counts of a study (3 for n = 3, 10 for n = 5 and t = 2).

- :func:`random_shares` uses g_A(x) = prod over j outside A of (x_j - x): integer weights, so
  the shares cost multiplications by small integers (the value is a multiple of the key's
  output, still uniform).
- Where the value itself must be exactly the sum of the keys' outputs (truncation masks,
  random bits), the weights are f_A = g_A / g_A(0), with f_A(0) = 1.
- :func:`zero_shares` gives a degree-2t sharing of zero with uniform higher coefficients, which
  turns a degree-t random sharing into the degree-2t half of a double sharing.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping

import numpy as np

from ..prg import SEED_BYTES, expand, new_seed
from . import field
from .field import Array, P
from .polynomial import points

Subset = tuple[int, ...]


def subsets(n: int, t: int) -> list[Subset]:
    """The sets of n - t parties (0-based), in a fixed order every party agrees on."""
    return list(itertools.combinations(range(n), n - t))


@functools.lru_cache(maxsize=1024)
def integer_weight(n: int, subset: Subset, party: int) -> int:
    """g_A(x_party) = prod over j outside A of (x_j - x_party): a small integer."""
    xs = points(n)
    value = 1
    for j in range(n):
        if j not in subset:
            value *= xs[j] - xs[party]
    return value


@functools.lru_cache(maxsize=1024)
def vanishing_at(n: int, subset: Subset, party: int) -> int:
    """f_A(x_party) for the degree-t polynomial with f_A(0) = 1 and f_A(x_j) = 0 for j not in A."""
    return integer_weight(n, subset, party) * field.inverse(_at_zero(n, subset)) % P


def deal_keys(n: int, t: int) -> list[dict[Subset, bytes]]:
    """Fresh keys for every set, as each party would hold them after the setup exchange
    (tests; in a session each set's lowest member makes its key)."""
    keys = {a: new_seed() for a in subsets(n, t)}
    return [{a: k for a, k in keys.items() if i in a} for i in range(n)]


def prf(key: bytes, label: int, count: int) -> Array:
    """``count`` uniform field elements of stream ``label`` under ``key``."""
    if len(key) != SEED_BYTES:
        raise ValueError("a PRSS key must be 32 bytes")
    return field.random(expand(key, label, 2 * count).reshape(count, 2))


def random_shares(party: int, n: int, keys: Mapping[Subset, bytes], label: int, count: int) -> Array:
    """This party's degree-t shares of ``count`` uniform random values, without communication.
    ``label`` must be fresh for every call (the same label gives the same values)."""
    terms = []
    for subset, key in sorted(keys.items()):
        _member(party, subset)
        terms.append((integer_weight(n, subset, party), prf(key, label, count)))
    return field.linear(terms)


def zero_shares(party: int, n: int, t: int, keys: Mapping[Subset, bytes], label: int, count: int) -> Array:
    """This party's degree-2t shares of ``count`` zeros whose polynomial's coefficients 1..2t are
    uniform: sum over A and k = 1..t of PRF(k_A, label + k - 1) x_i**k g_A(x_i). Uses labels
    ``label`` .. ``label + t - 1``."""
    x = points(n)[party]
    terms = []
    for subset, key in sorted(keys.items()):
        _member(party, subset)
        weight = integer_weight(n, subset, party)
        for k in range(1, t + 1):
            terms.append((weight * x**k, prf(key, label + k - 1, count)))
    return field.linear(terms)


def random_bits(party: int, n: int, t: int, keys: Mapping[Subset, bytes], label: int, count: int) -> list[Array]:
    """Degree-t shares of one uniform bit per key set, in :func:`subsets` order (its members
    know it in the clear; the others hold 0, its polynomial vanishing there): each set's bit times
    f_A(x_i), no multiplication needed. The XOR of all of them is a bit that no t parties know
    (the caller combines them, one multiplication per XOR)."""
    out = []
    for subset in subsets(n, t):
        key = keys.get(subset)
        if key is None:
            _outside(party, subset)
            out.append(field.zeros((count,)))
            continue
        words = expand(key, label, -(-count // 64)).reshape(-1, 1)
        bits = ((words >> np.arange(64, dtype=np.uint64)) & np.uint64(1)).reshape(-1)[:count].astype(bool)
        weight = field.scalar(vanishing_at(n, subset, party))
        out.append(np.where(bits, weight, field.zeros(())))
    return out


def value_of(all_keys: Mapping[Subset, bytes], n: int, label: int, count: int) -> Array:
    """The random values of :func:`random_shares` themselves (tests: only someone holding every
    key can compute this)."""
    return field.linear([(_at_zero(n, subset), prf(key, label, count)) for subset, key in sorted(all_keys.items())])


def _at_zero(n: int, subset: Subset) -> int:
    """g_A(0) = prod over j outside A of x_j."""
    return math.prod(x for j, x in enumerate(points(n)) if j not in subset)


def _outside(party: int, subset: Subset) -> None:
    if party in subset:
        raise ValueError(f"party {party} is missing the key of its set {subset}")


def _member(party: int, subset: Subset) -> None:
    if party not in subset:
        raise ValueError("a party holds keys only of sets it belongs to")


__all__ = ["deal_keys", "random_bits", "random_shares", "subsets", "value_of", "vanishing_at", "zero_shares"]
