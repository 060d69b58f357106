"""The Shamir suite: honest-majority Shamir sharing over the field of p = 2**127 - 1, no dealer.

Secure against any t < n / 2 parties that follow the protocol but pool what they see (the
threshold is the session's ``threshold``), with openings that check every share (the session's
``verify``: detect, correct or off). Randomness comes from pseudo-random secret sharing keyed
in each computation's rendezvous, so there is no dealer and no stored material. Costs are in
:mod:`.arithmetic`, :mod:`.comparison` and :mod:`.opening`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import fixed_point
from ..base import Array, Codec, DealerLogic, DealerRequest, InputSharing, MaterialNeed, MaterialSource, ProtocolSuite
from . import arithmetic, comparison, field
from .material import PrssMaterial
from .opening import UNCHECKED, check_settings, guarantee, open_shares, settings
from .sharing import ShamirInputSharing

if TYPE_CHECKING:
    from ..context import ProtocolContext


class FieldCodec(Codec):
    """Fixed point in the field with the centred lift: |encoded| < 2**62, as the additive codec."""

    dtype = field.ELEMENT
    limit_bits = fixed_point.LIMIT_BITS

    def encode_input(self, values: Array, frac_bits: int, what: str) -> tuple[Array, int]:
        signed, scale = fixed_point.encode(values, frac_bits, what)
        return field.from_ints(signed), scale

    def encode_public(self, values: Array, scale: int) -> Array:
        return field.from_ints(fixed_point.encode_public(values, scale))

    def decode(self, encoded: Array, scale: int) -> Array:
        return fixed_point.decode(field.centred(np.asarray(encoded, dtype=field.ELEMENT)), scale)


class ShamirSuite(ProtocolSuite):
    """Shamir sharing of degree t, PRSS randomness, checked openings."""

    name = "shamir"
    needs_dealer = False

    def __init__(self) -> None:
        self.codec = FieldCodec()

    # ----- local linear operations ------------------------------------------------------------
    def neg(self, x: Array) -> Array:
        return field.neg(x)

    def add(self, x: Array, y: Array) -> Array:
        return field.add(x, y)

    def sub(self, x: Array, y: Array) -> Array:
        return field.sub(x, y)

    def sum(self, x: Array, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Array:
        return field.sum_along(x, axis=axis, keepdims=keepdims)

    def mul_public(self, x: Array, public: Array) -> Array:
        return field.mul(x, np.asarray(public, dtype=field.ELEMENT))

    def matmul_public(self, x: Array, public: Array, public_on_left: bool) -> Array:
        p = np.asarray(public, dtype=field.ELEMENT)
        return field.matmul(p, x) if public_on_left else field.matmul(x, p)

    def add_public(self, ctx: ProtocolContext, x: Array, public: Array) -> Array:
        return field.add(x, np.asarray(public, dtype=field.ELEMENT))  # f + p has constant term x + p

    def constant(self, ctx: ProtocolContext, public: Array) -> Array:
        return np.array(public, dtype=field.ELEMENT, copy=True)  # a constant polynomial

    # ----- interactive primitives -------------------------------------------------------------
    def open(
        self, ctx: ProtocolContext, shares: Sequence[Array], label: str, to: Sequence[int] | None = None
    ) -> list[Array] | None:
        t, _ = settings(ctx)
        return open_shares(ctx, [np.asarray(s, dtype=field.ELEMENT) for s in shares], label, t, to)

    def mul(self, ctx: ProtocolContext, x: Array, y: Array) -> Array:
        return arithmetic.mul(ctx, x, y)

    def matmul(self, ctx: ProtocolContext, x: Array, y: Array) -> Array:
        return arithmetic.matmul(ctx, x, y)

    def gram(self, ctx: ProtocolContext, x: Array) -> Array:
        return arithmetic.gram(ctx, x)

    def div_public(self, ctx: ProtocolContext, x: Array, divisor: int) -> Array:
        return arithmetic.div_public(ctx, x, divisor)

    def ltz(self, ctx: ProtocolContext, x: Array, bits: int | None = None) -> Array:
        return comparison.ltz(ctx, x, bits)

    # ----- inputs, rendezvous, preprocessing --------------------------------------------------
    def input_sharing(self, ctx: ProtocolContext) -> InputSharing:
        return ShamirInputSharing(ctx)

    def material_source(self, party: int, store: Any, dealer: DealerRequest | None) -> MaterialSource:
        return PrssMaterial(party)

    def rendezvous_state(self, material: MaterialSource) -> dict[str, Any]:
        return {}

    def check_rendezvous_state(self, raw: object) -> dict[str, Any]:
        if raw != {}:
            raise ValueError("the Shamir protocol adds nothing to the rendezvous")
        return {}

    def settle_rendezvous(self, material: MaterialSource, states: Mapping[str, dict[str, Any]]) -> None:
        return None  # fresh keys every computation: nothing to line up

    def preprocessing_plan(self, operation: str, count: int, frac_bits: int, **shape: int) -> list[MaterialNeed]:
        if operation not in ("multiplication", "truncation", "comparison", "gram"):
            raise ValueError(f"no preprocessing plan for {operation!r}")
        return []  # the parties make their randomness as they go (PRSS), no offline phase

    def stock_summary(self, stock: Mapping[str, int], frac_bits: int) -> dict[str, int]:
        return {}

    def dealer_logic(self, n_parties: int, state_dir: str) -> DealerLogic | None:
        return None

    def check_options(self, n_parties: int, options: Mapping[str, Any]) -> None:
        unknown = set(options) - {"threshold", "verify"}
        if unknown:
            raise ValueError(f"the shamir protocol has no setting {', '.join(sorted(unknown))}")
        check_settings(n_parties, options.get("threshold"), options.get("verify"))

    def confirms_release(self, options: Mapping[str, Any]) -> bool:
        return bool(options.get("verify", "detect") != "off")

    def describe(self, n_parties: int, options: Mapping[str, Any]) -> str:
        t, verify = check_settings(n_parties, options.get("threshold"), options.get("verify"))
        if verify == "off":
            return (
                f"shamir (no dealer): threshold t = {t} of {n_parties} sites (any {t} together learn nothing), "
                "verify = 'off': shares are not checked"
            )
        openings = guarantee(n_parties, t, verify, t)
        products = guarantee(n_parties, t, verify, 2 * t)
        inside = (
            f"inside products (opened at degree 2t) false shares are {products}"
            if products != UNCHECKED
            else "inside products (opened at degree 2t) false shares are not noticed with so few sites for this "
            "threshold (that needs n > 3t): a site sending one can make a result wrong"
        )
        return (
            f"shamir (no dealer): threshold t = {t} of {n_parties} sites (any {t} together learn nothing), "
            f"verify = {verify!r}: in openings false shares are {openings}; {inside}"
        )
