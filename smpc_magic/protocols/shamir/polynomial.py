"""Shamir sharing over the field of :mod:`.field`: shares, reconstruction with cached Lagrange
coefficients, and openings that check every share.

Party i (0-based) holds the value at x = i + 1 of a random polynomial of degree d whose
constant term is the secret. Any d + 1 shares determine it. With n shares reported, of which up
to t may be false (the reference text's section on active security):

- n - d <= t: a false share cannot be noticed;
- n - d > t: it is noticed (the shares do not lie on one polynomial of degree d);
- n - d > 2t: it is corrected (exactly one polynomial of degree d passes through all but at
  most t of them), and the parties whose shares are off it are named.

Decoding searches the sets of at most t suspected parties (few: n is the number of sites), all
elements at once, rather than solving Berlekamp-Welch's system per element; both find the
unique polynomial that unique decoding guarantees.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import field
from .field import Array, P


def points(n: int) -> tuple[int, ...]:
    """The public x of each party's share: 1, 2, ..., n."""
    return tuple(range(1, n + 1))


@functools.lru_cache(maxsize=256)
def lagrange_at(xs: tuple[int, ...], at: int = 0) -> tuple[int, ...]:
    """Coefficients c_i with f(at) = sum c_i f(xs[i]) for every f of degree < len(xs)."""
    out = []
    for i, xi in enumerate(xs):
        num, den = 1, 1
        for j, xj in enumerate(xs):
            if j != i:
                num = num * (at - xj) % P
                den = den * (xi - xj) % P
        out.append(num * field.inverse(den) % P)
    return tuple(out)


def share(secret: Array, n: int, degree: int, coefficients: Array) -> list[Array]:
    """The n shares of ``secret`` (field elements) on the polynomial whose higher coefficients are
    ``coefficients`` (shape (degree,) + secret.shape: uniform field elements)."""
    if coefficients.shape[0] != degree:
        raise ValueError("one random coefficient per degree is needed")
    out = []
    for x in points(n):
        value = secret
        power = 1
        for k in range(degree):
            power = power * x % P
            value = field.add(value, field.mul(coefficients[k], field.scalar(power)))
        out.append(value)
    return out


def interpolate(xs: Sequence[int], ys: Sequence[Array], at: int = 0) -> Array:
    """f(at) for the polynomial of degree < len(xs) through (xs[i], ys[i])."""
    coefficients = lagrange_at(tuple(xs), at)
    total = field.mul(ys[0], field.scalar(coefficients[0]))
    for c, y in zip(coefficients[1:], ys[1:]):
        total = field.add(total, field.mul(y, field.scalar(c)))
    return total


def reconstruct(ys: Sequence[Array], degree: int) -> Array:
    """The secret from the first degree + 1 shares (parties 1..degree+1), unchecked."""
    return interpolate(points(degree + 1), ys[: degree + 1])


def _off_polynomial(xs: tuple[int, ...], ys: Sequence[Array], degree: int) -> np.ndarray:
    """Per element: do the shares beyond the first degree + 1 leave the polynomial those fix?"""
    base = list(range(degree + 1))
    off = np.zeros(ys[0].shape, dtype=bool)
    for i in range(degree + 1, len(xs)):
        predicted = interpolate([xs[b] for b in base], [ys[b] for b in base], xs[i])
        off |= (predicted["lo"] != ys[i]["lo"]) | (predicted["hi"] != ys[i]["hi"])
    return off


@dataclass
class Opening:
    """What a checked opening found: the values (None if they cannot be trusted), whether any
    share was off the polynomial, and the parties (0-based) identified as reporting false shares."""

    values: Array | None
    inconsistent: bool
    culprits: tuple[int, ...]


def open_checked(ys: Sequence[Array], degree: int, max_false: int, correct: bool) -> Opening:
    """Open with all n shares. ``max_false`` (t): how many parties may lie. Without ``correct``,
    (needs n - d > t) any inconsistency withholds the values; the culprits are named when one
    set of at most t parties explains every inconsistency by itself and could not be explained by
    another (n - d > 2t). With ``correct`` (needs n - d > 2t), the values are decoded anyway."""
    n = len(ys)
    xs = points(n)
    if n - degree <= max_false:
        raise ValueError(f"{n} shares of degree {degree} cannot detect {max_false} false shares (needs n - d > t)")
    if correct and n - degree <= 2 * max_false:
        raise ValueError(f"{n} shares of degree {degree} cannot correct {max_false} false shares (needs n - d > 2t)")
    off = _off_polynomial(xs, ys, degree)
    if not off.any():
        return Opening(reconstruct(ys, degree), False, ())
    can_attribute = n - degree > 2 * max_false
    if not can_attribute:
        return Opening(None, True, ())
    decoded = field.zeros(ys[0].shape)
    settled = ~off
    decoded = np.where(settled, reconstruct(ys, degree), decoded)
    culprits: set[int] = set()
    for size in range(1, max_false + 1):
        for suspects in itertools.combinations(range(n), size):
            if settled.all():
                break
            keep = [i for i in range(n) if i not in suspects]
            fits = ~_off_polynomial(tuple(xs[i] for i in keep), [ys[i] for i in keep], degree) & ~settled
            if fits.any():
                value = interpolate([xs[i] for i in keep[: degree + 1]], [ys[i] for i in keep[: degree + 1]])
                decoded = np.where(fits, value, decoded)
                settled |= fits
                culprits.update(suspects)
    if not settled.all():  # more false shares than max_false: nothing can be trusted
        return Opening(None, True, ())
    return Opening(decoded if correct else None, True, tuple(sorted(culprits)))
