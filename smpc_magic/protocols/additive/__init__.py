"""The additive protocol: Z_2^64 fixed point, seed-compressed dealer material, Beaver products,
truncation and comparison. Only the registry and this package's own tests import it."""

from .suite import AdditiveSuite

__all__ = ["AdditiveSuite"]
