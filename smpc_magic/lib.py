"""The ``smpc`` namespace available inside %%smpc cells: secure versions of common numpy calls."""

from __future__ import annotations

import numpy as np

from .secure_array import SecretArray

__all__ = ["SecretArray", "concatenate", "dot", "hstack", "is_secret", "mean", "stack", "sum", "vstack"]


def is_secret(value) -> bool:
    """True for secret-shared arrays."""
    return isinstance(value, SecretArray)


def sum(x, axis=None):  # noqa: A001 - mirrors numpy
    """Sum over ``axis`` (no communication)."""
    return np.sum(x, axis=axis)


def mean(x, axis=None):
    """Mean over ``axis``: one division round for secrets."""
    return np.mean(x, axis=axis)


def dot(a, b):
    """Matrix or dot product (one round with a matrix triple)."""
    return np.dot(a, b)


def concatenate(arrays, axis=0):
    return np.concatenate(arrays, axis=axis)


def stack(arrays, axis=0):
    return np.stack(arrays, axis=axis)


def hstack(arrays):
    return np.hstack(arrays)


def vstack(arrays):
    return np.vstack(arrays)
