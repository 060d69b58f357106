"""Honest-majority Shamir sharing without a dealer: the prime field, polynomials, checked
openings, PRSS randomness and the suite."""

from .suite import ShamirSuite

__all__ = ["ShamirSuite"]
