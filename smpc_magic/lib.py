"""The ``smpc`` namespace available inside %%smpc cells: secure versions of common numpy calls."""

from __future__ import annotations

import numpy as np

from .functions import (
    absolute,
    argmax,
    argmin,
    clip,
    divide,
    exp,
    log,
    maximum,
    minimum,
    reciprocal,
    rsqrt,
    sigmoid,
    sign,
    softmax,
    sqrt,
    tanh,
    where,
)
from .functions import amax as max  # noqa: A004 - mirrors numpy
from .functions import amin as min  # noqa: A004
from .secure_array import SecretArray

abs = absolute  # noqa: A001

__all__ = [
    "SecretArray",
    "abs",
    "absolute",
    "argmax",
    "argmin",
    "clip",
    "concatenate",
    "divide",
    "dot",
    "exp",
    "hstack",
    "is_secret",
    "log",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "reciprocal",
    "rsqrt",
    "sigmoid",
    "sign",
    "softmax",
    "sqrt",
    "stack",
    "sum",
    "tanh",
    "vstack",
    "where",
]


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
