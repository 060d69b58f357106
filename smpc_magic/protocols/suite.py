"""The protocol suite a computation runs with: the primitives secret arrays are built on.

Secret arrays and the function library call only these methods, through their context, so a
second protocol (the planned dealer-free Shamir suite) implements this interface and everything
above it works unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import arithmetic, compare


class ProtocolSuite:
    """Primitives on this party's shares; each docstring in the implementing modules states
    rounds and bytes. The additive suite (dealer material, Z_2^64) is the default."""

    name = "additive"

    def open_values(self, ctx, shares: Sequence[np.ndarray], label: str, to: Sequence[int] | None = None):
        return arithmetic.open_values(ctx, shares, label, to=to)

    def add_public(self, ctx, share: np.ndarray, public: np.ndarray) -> np.ndarray:
        return arithmetic.add_public(ctx, share, public)

    def mul(self, ctx, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return arithmetic.mul(ctx, x, y)

    def matmul(self, ctx, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return arithmetic.matmul(ctx, x, y)

    def gram(self, ctx, x: np.ndarray) -> np.ndarray:
        return arithmetic.gram(ctx, x)

    def div_public(self, ctx, x: np.ndarray, divisor: int) -> np.ndarray:
        return arithmetic.div_public(ctx, x, divisor)

    def ltz(self, ctx, x: np.ndarray, bits: int = compare.LOW_BITS) -> np.ndarray:
        """[x < 0] for |x| < 2**bits (encoded units)."""
        return compare.ltz(ctx, x, bits)


ADDITIVE = ProtocolSuite()
