"""Openings that use all n shares and check them, and the session's Shamir settings.

Every party sends its share to every recipient (one round). A recipient reconstructs from the
first d + 1 shares and, unless verification is off, predicts every further share from them: a
share off the degree-d polynomial means some party reported a false one.

- ``verify = "detect"`` (possible where n - d > t): nothing is released; the party is named
  where the shares single it out (n - d > 2t), otherwise the error says it cannot be told.
- ``verify = "correct"`` (possible where n - d > 2t): the unique polynomial through all but at
  most t of the shares gives the right value; the party is named in a notice the engine shows at
  every site and writes to the audit log.
- ``verify = "off"``: the first d + 1 shares are used, unchecked.

Multiplications open masked products at degree 2t, so inside a product (``d = 2t``) a false
share is detected only where n > 3t, and corrected and its sender named only where n > 4t; with
n <= 3t (3 sites with t = 1, and every default threshold but 4 sites') it is not noticed and the
product is wrong. :func:`guarantee` says which holds for each degree; a session's status says it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import FalseShareError, SmpcError
from ..channel import ArraySpec, ChannelMismatch, Message
from . import field
from .field import Array, P
from .polynomial import lagrange_at, open_checked, points

if TYPE_CHECKING:
    from ..context import ProtocolContext

VERIFY_MODES = ("detect", "correct", "off")


class ShamirSettingsError(SmpcError, ValueError):
    """The session's threshold or verification mode cannot work with its number of sites."""


def check_settings(n: int, threshold: int | None, verify: str | None) -> tuple[int, str]:
    """The threshold t and verification mode for n sites, validated (defaults: the largest
    t < n / 2, and "detect")."""
    if n < 3:
        raise ShamirSettingsError(
            f"the Shamir protocol needs at least 3 sites (this session has {n}): with 2, one site's share "
            "would be enough to learn a secret (an honest majority needs t < n / 2). Use the additive "
            'protocol (protocol = "additive", with a dealer) for two sites.'
        )
    t = (n - 1) // 2 if threshold is None else int(threshold)
    if not 1 <= t or 2 * t >= n:
        raise ShamirSettingsError(
            f"threshold {t} does not work with {n} sites: it must be at least 1 and below n / 2 "
            f"(at most {(n - 1) // 2}), so that no {t} sites together learn anything and products can be reduced."
        )
    mode = "detect" if verify is None else verify
    if mode not in VERIFY_MODES:
        raise ShamirSettingsError(
            f"verify = {mode!r} is not a verification mode; choose one of {', '.join(VERIFY_MODES)}"
        )
    if mode == "correct" and n - t <= 2 * t:
        raise ShamirSettingsError(
            f'verify = "correct" needs n - t > 2t to find a false share among the others ({n} sites with threshold '
            f"{t} give {n - t} <= {2 * t}). Use a smaller threshold (threshold = {(n - 1) // 3}) if "
            f'{(n - 1) // 3} >= 1, more sites, or verify = "detect".'
        )
    return t, mode


#: What a checked opening of degree d does about a false share (see :func:`guarantee`).
UNCHECKED, DETECTED, NAMED, CORRECTED = "unchecked", "detected", "detected and named", "corrected and named"


def guarantee(n: int, t: int, verify: str, degree: int) -> str:
    """What an opening of a degree-``degree`` sharing does about false shares from up to t of the
    n parties, in verification mode ``verify`` (the reference text's rule: n - d > t detects,
    n - d > 2t corrects): releases and the protocol's own openings are degree t, the masked
    product of a multiplication is degree 2t."""
    if verify == "off" or n - degree <= t:
        return UNCHECKED
    if n - degree <= 2 * t:
        return DETECTED
    return CORRECTED if verify == "correct" else NAMED


def settings(ctx: ProtocolContext) -> tuple[int, str]:
    return check_settings(ctx.n_parties, ctx.options.get("threshold"), ctx.options.get("verify"))


def to_wire(x: Array) -> np.ndarray:
    """Field elements as (..., 2) uint64 words (lo, hi), contiguous, for a message."""
    return np.ascontiguousarray(x).reshape(-1).view(np.uint64).reshape(*x.shape, 2)


def from_wire(words: np.ndarray, sender: str, label: str) -> Array:
    """A peer's words back to field elements; anything not a canonical element is refused."""
    words = np.ascontiguousarray(words, dtype=np.uint64)
    lo, hi = words[..., 0], words[..., 1]
    if np.any(hi > field.P_HI) or np.any((hi == field.P_HI) & (lo == field.P_LO)):
        raise ChannelMismatch(f"party {sender!r} sent a value outside the field at step '{label}'")
    return words.reshape(-1).view(field.ELEMENT).reshape(words.shape[:-1])


@functools.lru_cache(maxsize=256)
def signed_lagrange(xs: tuple[int, ...], at: int) -> tuple[int, ...]:
    """Lagrange coefficients as signed integers (small for the points 1..n)."""
    return tuple(c if c <= P // 2 else c - P for c in lagrange_at(xs, at))


def open_shares(
    ctx: ProtocolContext, shares: Sequence[Array], label: str, degree: int, to: Sequence[int] | None = None
) -> list[Array] | None:
    """Reconstruct several degree-``degree`` sharings at the parties ``to`` (all by default), in
    one round, each checked as the session's verification mode says."""
    me, n = ctx.party, ctx.n_parties
    recipients = list(range(n)) if to is None else sorted(set(to))
    words = [to_wire(s) for s in shares]
    outgoing = {j: Message(list(words)) for j in recipients if j != me}
    expect: dict[int, Any] = {}
    if me in recipients:
        spec = [ArraySpec("uint64", w.shape) for w in words]
        expect = {j: spec for j in range(n) if j != me}
    received = ctx.channel.exchange(ctx.next_step(), label, outgoing, expect)
    if me not in recipients:
        return None
    names = ctx.channel.party_names
    out = []
    for k, own in enumerate(shares):
        ys = [own if j == me else from_wire(received[j].arrays[k], names[j], label) for j in range(n)]
        out.append(reconstruct_checked(ctx, ys, degree, label))
    return out


def reconstruct_checked(ctx: ProtocolContext, ys: list[Array], degree: int, label: str) -> Array:
    """The secret from all n shares, checked (see the module docstring)."""
    n = len(ys)
    t, verify = settings(ctx)
    xs = points(n)
    base = xs[: degree + 1]
    value = field.linear(list(zip(signed_lagrange(base, 0), ys[: degree + 1])))
    if verify == "off" or n - degree <= t:
        return value
    off = np.zeros(ys[0].shape, dtype=bool)
    for i in range(degree + 1, n):
        predicted = field.linear(list(zip(signed_lagrange(base, xs[i]), ys[: degree + 1])))
        off |= ~field.equal(predicted, ys[i])
    if not off.any():
        return value
    names = ctx.channel.party_names
    correct = verify == "correct" and n - degree > 2 * t
    opening = open_checked([y[off] for y in ys], degree, t, correct=correct)
    who = tuple(names[i] for i in opening.culprits)
    if correct and opening.values is not None:
        value = value.copy()
        value[off] = opening.values
        ctx.notices.append(
            f"party {', '.join(repr(w) for w in who)} sent false shares for {int(off.sum())} value(s) at step "
            f"'{label}' ({ctx.step}); they were corrected from the other sites' shares and the right values used."
        )
        return value
    if who:
        raise FalseShareError(
            f"party {', '.join(repr(w) for w in who)} sent shares that do not fit the others' at step '{label}' "
            f"({ctx.step}); nothing was released. Check that site's installation and session, then re-run the cell.",
            parties=who,
        )
    why = (
        f"a product's masked value is opened at degree 2t = {degree}, where {n} sites with threshold {t} can detect "
        f"a false share but neither correct it nor tell whose (that needs n > 4t: {4 * t + 1} or more sites)"
        if degree > t
        else f"with {n} sites and threshold {t} it cannot be told which (that needs n > 3t: {3 * t + 1} or more sites)"
    )
    raise FalseShareError(
        f"the shares opened at step '{label}' ({ctx.step}) do not lie on one polynomial: some site sent a false share, "
        f"and {why}; nothing was released. Re-run the cell; if it happens again, check every site's installation "
        "(more sites, or a smaller threshold, let the culprit be named).",
    )
