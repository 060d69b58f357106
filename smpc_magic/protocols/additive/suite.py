"""The additive suite: n-party additive sharing over Z_2^64 with a trusted dealer's material.

Passive security against up to n-1 colluding parties plus a non-colluding dealer. Each
interactive method's cost is stated in :mod:`.arithmetic` and :mod:`.comparison`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import PreprocessingError
from ..base import Array, DealerLogic, DealerRequest, InputSharing, MaterialNeed, MaterialSource, ProtocolSuite
from . import arithmetic, comparison
from .dealer import Dealer
from .kinds import stream_key
from .ring import RING_DTYPE, RingCodec, ring_matmul, ring_op
from .sharing import SeedInputSharing
from .source import DealerMaterial

if TYPE_CHECKING:
    from ..context import ProtocolContext

#: Largest cursor a peer may declare in the rendezvous (far beyond any real stream).
MAX_CURSOR = 1 << 48


class AdditiveSuite(ProtocolSuite):
    """Additive sharing in Z_2^64, Beaver triples and masks from the dealer."""

    name = "additive"
    needs_dealer = True

    def __init__(self) -> None:
        self.codec = RingCodec()

    # ----- local linear operations ------------------------------------------------------------
    @ring_op
    def neg(self, x: Array) -> Array:
        out: Array = np.uint64(0) - x
        return out

    @ring_op
    def add(self, x: Array, y: Array) -> Array:
        return x + y

    @ring_op
    def sub(self, x: Array, y: Array) -> Array:
        return x - y

    @ring_op
    def sum(self, x: Array, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Array:
        return np.asarray(np.sum(x, axis=axis, keepdims=keepdims, dtype=RING_DTYPE))

    @ring_op
    def mul_public(self, x: Array, public: Array) -> Array:
        return x * np.asarray(public, dtype=RING_DTYPE)

    @ring_op
    def matmul_public(self, x: Array, public: Array, public_on_left: bool) -> Array:
        p = np.asarray(public, dtype=RING_DTYPE)
        return ring_matmul(p, x) if public_on_left else ring_matmul(x, p)

    def add_public(self, ctx: ProtocolContext, x: Array, public: Array) -> Array:
        return arithmetic.add_public(ctx, x, public)

    def constant(self, ctx: ProtocolContext, public: Array) -> Array:
        public = np.asarray(public, dtype=RING_DTYPE)
        return public.copy() if ctx.is_leader else np.zeros(public.shape, RING_DTYPE)

    # ----- interactive primitives -------------------------------------------------------------
    def open(
        self, ctx: ProtocolContext, shares: Sequence[Array], label: str, to: Sequence[int] | None = None
    ) -> list[Array] | None:
        return arithmetic.open_values(ctx, shares, label, to=to)

    def mul(self, ctx: ProtocolContext, x: Array, y: Array) -> Array:
        return arithmetic.mul(ctx, x, y)

    def matmul(self, ctx: ProtocolContext, x: Array, y: Array) -> Array:
        return arithmetic.matmul(ctx, x, y)

    def gram(self, ctx: ProtocolContext, x: Array) -> Array:
        return arithmetic.gram(ctx, x)

    def div_public(self, ctx: ProtocolContext, x: Array, divisor: int) -> Array:
        return arithmetic.div_public(ctx, x, divisor)

    def ltz(self, ctx: ProtocolContext, x: Array, bits: int | None = None) -> Array:
        return comparison.ltz(ctx, x, comparison.LOW_BITS if bits is None else bits)

    # ----- inputs, rendezvous, preprocessing --------------------------------------------------
    def input_sharing(self, ctx: ProtocolContext) -> InputSharing:
        return SeedInputSharing(ctx)

    def material_source(self, party: int, store: Any, dealer: DealerRequest | None) -> MaterialSource:
        return DealerMaterial(store, party, dealer)

    def rendezvous_state(self, material: MaterialSource) -> dict[str, Any]:
        """The store's cursors: the parties move to the furthest any of them reached."""
        return {"cursors": _store_of(material).cursors()}

    def check_rendezvous_state(self, raw: object) -> dict[str, Any]:
        cursors = raw.get("cursors") if isinstance(raw, dict) else None
        if not isinstance(cursors, dict) or len(cursors) > 10_000:
            raise ValueError("cursors")
        for stream, pos in cursors.items():
            if not isinstance(stream, str) or len(stream) > 200 or not _is_int(pos) or not 0 <= pos <= MAX_CURSOR:
                raise ValueError("cursors")
        return {"cursors": dict(cursors)}

    def settle_rendezvous(self, material: MaterialSource, states: Mapping[str, dict[str, Any]]) -> None:
        """Every party moves to the furthest cursor any reached, once the dealer confirms that
        it issued that much: a peer cannot push this party's streams past what exists."""
        store = _store_of(material)
        own = store.cursors()
        furthest: dict[str, int] = {}
        claimed_by: dict[str, str] = {}
        for party, state in states.items():
            for stream, pos in state["cursors"].items():
                if int(pos) > furthest.get(stream, 0):
                    furthest[stream], claimed_by[stream] = int(pos), party
        ahead = sorted(s for s, pos in furthest.items() if pos > own.get(s, 0))
        if ahead and isinstance(material, DealerMaterial):
            ends = material.issued(ahead)
            for stream in ahead:
                if furthest[stream] > ends.get(stream, 0):
                    raise PreprocessingError(
                        f"party {claimed_by[stream]!r} reports using more preprocessing material ({stream}) "
                        "than the dealer has issued; nothing was shared. Its material store may belong to "
                        "another session or dealer: check its session file and store folder."
                    )
        store.advance(furthest)

    def preprocessing_plan(self, operation: str, count: int, frac_bits: int, **shape: int) -> list[MaterialNeed]:
        if count <= 0:
            return []
        if operation == "multiplication":
            return [MaterialNeed("mul", (), count)]
        if operation == "truncation":
            return [MaterialNeed("div", (1 << frac_bits,), count)]
        if operation == "comparison":
            return [
                MaterialNeed("cmp", (), count),
                MaterialNeed("dabit", (), count),
                MaterialNeed("and", (), comparison.and_triple_words(count)),
            ]
        if operation == "gram":
            rows, cols = shape["rows"], shape["cols"]
            return [MaterialNeed("gram", ((rows, cols),), count)]
        raise ValueError(f"no preprocessing plan for {operation!r}")

    def stock_summary(self, stock: Mapping[str, int], frac_bits: int) -> dict[str, int]:
        summary = {}
        for label, operations in (
            ("fixed-point multiplications", ("multiplication", "truncation")),
            ("comparisons", ("comparison",)),
        ):

            def covered(count: int, operations: tuple[str, ...] = operations) -> bool:
                needs = [n for op in operations for n in self.preprocessing_plan(op, count, frac_bits)]
                return all(stock.get(stream_key(n.kind, n.params), 0) >= n.count for n in needs)

            low, high = 0, max(stock.values(), default=0)
            while low < high:  # the largest count the stock covers (needs grow with the count)
                middle = (low + high + 1) // 2
                low, high = (middle, high) if covered(middle) else (low, middle - 1)
            summary[label] = low
        return summary

    def dealer_logic(self, n_parties: int, state_dir: str) -> DealerLogic | None:
        return Dealer(n_parties, state_dir)


def _store_of(material: MaterialSource) -> Any:
    store = getattr(material, "store", None)
    if store is None:
        raise TypeError("the additive suite's rendezvous needs a store-backed material source")
    return store


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
