"""The ``smpc`` namespace available inside %%smpc cells: secure versions of common numpy calls."""

from __future__ import annotations

from typing import Any

import numpy as np

from .array import SecretArray
from .compare import absolute, argmax, argmin, clip, maximum, minimum, sign, where
from .compare import amax as max  # noqa: A004 - mirrors numpy
from .compare import amin as min  # noqa: A004
from .core import SecretCore
from .functions import divide, exp, log, reciprocal, rsqrt, sigmoid, softmax, sqrt, tanh

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


def is_secret(value: object) -> bool:
    """True for secret-shared arrays."""
    return isinstance(value, SecretCore)


def sum(x: Any, axis: Any = None) -> Any:  # noqa: A001 - mirrors numpy
    """Sum over ``axis`` (no communication)."""
    return np.sum(x, axis=axis)


def mean(x: Any, axis: Any = None) -> Any:
    """Mean over ``axis``: one division round for secrets."""
    return np.mean(x, axis=axis)


def dot(a: Any, b: Any) -> Any:
    """Matrix or dot product (one round with a matrix triple)."""
    return np.dot(a, b)


def concatenate(arrays: Any, axis: Any = 0) -> Any:
    return np.concatenate(arrays, axis=axis)


def stack(arrays: Any, axis: Any = 0) -> Any:
    return np.stack(arrays, axis=axis)


def hstack(arrays: Any) -> Any:
    return np.hstack(arrays)


def vstack(arrays: Any) -> Any:
    return np.vstack(arrays)
