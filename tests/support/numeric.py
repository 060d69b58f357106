"""Numeric helpers shared by the accuracy tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from smpc_magic.protocols.additive.ring import decode, encode

FRAC_BITS = 16
ULP = 2.0**-FRAC_BITS


def fixed(x: Any, frac_bits: int = FRAC_BITS) -> np.ndarray:
    """``x`` as fixed point represents it (the reference secure results are compared against)."""
    return decode(encode(np.asarray(x, dtype=np.float64), frac_bits)[0], frac_bits)


def within_relative(got: np.ndarray, true: np.ndarray, rel: float = 1e-3, ulps: float = 4) -> None:
    """At most ``rel`` * |true| or ``ulps`` units in the last place, whichever is larger."""
    bound = np.maximum(rel * np.abs(true), ulps * ULP)
    assert np.all(np.abs(got - true) <= bound), (got, true, np.abs(got - true) - bound)
