"""A deliberately minimal reference suite, for tests only: party 0 holds every value in the
clear (int64, fixed point), the others hold zeros, and every interactive step opens its inputs.

Not secure at all. It exists to prove the engine is protocol-agnostic: secret arrays, the
function library and the engine run unchanged on it (a different share dtype, no dealer, no
material), and give the same results as the additive suite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from smpc_magic.protocols.additive.ring import RingCodec
from smpc_magic.protocols.base import (
    Array,
    Codec,
    DealerLogic,
    DealerRequest,
    InputSharing,
    MaterialNeed,
    MaterialSource,
    ProtocolSuite,
)
from smpc_magic.protocols.channel import ArraySpec, Message
from smpc_magic.protocols.context import ProtocolContext

I64 = np.dtype(np.int64)


class PlainCodec(Codec):
    dtype = I64
    limit_bits = 62

    def __init__(self) -> None:
        self._ring = RingCodec()

    def encode_input(self, values: Array, frac_bits: int, what: str) -> tuple[Array, int]:
        encoded, scale = self._ring.encode_input(values, frac_bits, what)
        return encoded.view(I64), scale

    def encode_public(self, values: Array, scale: int) -> Array:
        return self._ring.encode_public(values, scale).view(I64)

    def decode(self, encoded: Array, scale: int) -> Array:
        return self._ring.decode(np.asarray(encoded, dtype=I64).view(np.uint64), scale)


class _Cleartext(InputSharing):
    def __init__(self, ctx: ProtocolContext):
        self.ctx = ctx

    def outgoing(self) -> dict[int, list[Array]]:
        return {j: [] for j in range(self.ctx.n_parties) if j != self.ctx.party}

    def expected(self) -> list[ArraySpec]:
        return []

    def receive(self, arrays: Mapping[int, Sequence[Array]]) -> None:
        pass

    def share(self, index: int, owner: int, shape: tuple[int, ...], encoded: Array | None) -> Array:
        if owner != 0:
            raise NotImplementedError("the plaintext suite shares inputs owned by party 0 only")
        if self.ctx.party == 0 and encoded is not None:
            return np.asarray(encoded).view(I64).reshape(shape)
        return np.zeros(shape, I64)


class PlaintextSuite(ProtocolSuite):
    name = "plaintext"
    needs_dealer = False

    def __init__(self) -> None:
        self.codec = PlainCodec()

    def neg(self, x: Array) -> Array:
        return -x

    def add(self, x: Array, y: Array) -> Array:
        return x + y

    def sub(self, x: Array, y: Array) -> Array:
        return x - y

    def sum(self, x: Array, axis: Any = None, keepdims: bool = False) -> Array:
        return np.sum(x, axis=axis, keepdims=keepdims, dtype=I64)

    def mul_public(self, x: Array, public: Array) -> Array:
        with np.errstate(over="ignore"):
            return x * np.asarray(public, dtype=I64)

    def matmul_public(self, x: Array, public: Array, public_on_left: bool) -> Array:
        p = np.asarray(public, dtype=I64)
        return p @ x if public_on_left else x @ p

    def add_public(self, ctx: ProtocolContext, x: Array, public: Array) -> Array:
        if ctx.is_leader:
            return x + public
        return np.broadcast_to(x, np.broadcast_shapes(np.shape(x), np.shape(public))).copy()

    def constant(self, ctx: ProtocolContext, public: Array) -> Array:
        public = np.asarray(public, dtype=I64)
        return public.copy() if ctx.is_leader else np.zeros(public.shape, I64)

    def open(
        self, ctx: ProtocolContext, shares: Sequence[Array], label: str, to: Sequence[int] | None = None
    ) -> list[Array] | None:
        me, n = ctx.party, ctx.n_parties
        recipients = list(range(n)) if to is None else sorted(set(to))
        shares = [np.ascontiguousarray(s, dtype=I64) for s in shares]
        outgoing = {j: Message(list(shares)) for j in recipients if j != me}
        expect = {j: [ArraySpec.like(s) for s in shares] for j in range(n) if j != me} if me in recipients else {}
        received = ctx.channel.exchange(ctx.next_step(), label, outgoing, expect)
        if me not in recipients:
            return None
        return [s + sum(m.arrays[k] for m in received.values()) for k, s in enumerate(shares)]

    def _held_by_leader(self, ctx: ProtocolContext, value: Array) -> Array:
        value = np.asarray(value, dtype=I64)
        return value if ctx.is_leader else np.zeros(value.shape, I64)

    def mul(self, ctx: ProtocolContext, x: Array, y: Array) -> Array:
        a, b = self.open(ctx, [x, y], "plain multiply") or []
        return self._held_by_leader(ctx, a * b)

    def matmul(self, ctx: ProtocolContext, x: Array, y: Array) -> Array:
        a, b = self.open(ctx, [x, y], "plain matmul") or []
        return self._held_by_leader(ctx, a @ b)

    def gram(self, ctx: ProtocolContext, x: Array) -> Array:
        (a,) = self.open(ctx, [x], "plain gram") or []
        return self._held_by_leader(ctx, a.T @ a)

    def div_public(self, ctx: ProtocolContext, x: Array, divisor: int) -> Array:
        (a,) = self.open(ctx, [x], "plain division") or []
        return self._held_by_leader(ctx, np.floor_divide(a + divisor // 2, divisor))

    def ltz(self, ctx: ProtocolContext, x: Array, bits: int | None = None) -> Array:
        (a,) = self.open(ctx, [x], "plain comparison") or []
        return self._held_by_leader(ctx, (a < 0).astype(I64))

    def input_sharing(self, ctx: ProtocolContext) -> InputSharing:
        return _Cleartext(ctx)

    def material_source(self, party: int, store: Any, dealer: DealerRequest | None) -> MaterialSource:
        return _NoMaterial()

    def rendezvous_state(self, material: MaterialSource) -> dict[str, Any]:
        return {}

    def check_rendezvous_state(self, raw: object) -> dict[str, Any]:
        if raw != {}:
            raise ValueError("the plaintext suite exchanges no state")
        return {}

    def settle_rendezvous(self, material: MaterialSource, states: Mapping[str, dict[str, Any]]) -> None:
        pass

    def preprocessing_plan(self, operation: str, count: int, frac_bits: int, **shape: int) -> list[MaterialNeed]:
        return []

    def stock_summary(self, stock: Any, frac_bits: int) -> dict[str, int]:
        return {}

    def dealer_logic(self, n_parties: int, state_dir: str) -> DealerLogic | None:
        return None


class _NoMaterial(MaterialSource):
    def take(self, kind: str, params: tuple[Any, ...], count: int = 1) -> dict[str, Array]:
        raise AssertionError("the plaintext suite uses no preprocessing material")
