"""What ``np``/``numpy`` and ``smpc`` are inside a %%smpc cell: facades that expose allow-listed
functions only.

The real numpy module reaches files (``np.load``), native code (``np.ctypeslib``) and global
state (``np.seterr``); a cell sees none of that. Every function listed here either works on
secret arrays through their numpy dispatch (which refuses what has no secure version) or is a
pure function of public values. Nothing random is listed: every site must compute the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .. import stats
from ..secret import lib

NUMPY_FUNCTIONS = frozenset(
    """
    abs absolute add all allclose any arange arccos arcsin arctan arctan2 argmax argmin argsort
    around array array_equal asarray atleast_1d atleast_2d broadcast_to ceil clip column_stack
    concatenate cos cosh count_nonzero cumprod cumsum diag diagonal diff divide dot einsum equal
    exp expand_dims expm1 eye flip floor full full_like greater greater_equal hstack identity
    isclose isfinite isinf isnan kron less less_equal linspace log log10 log1p log2 logical_and
    logical_not logical_or matmul max maximum mean median min minimum multiply nanmax nanmean
    nanmin nansum ndim negative not_equal ones ones_like outer percentile power prod quantile ravel
    reciprocal repeat reshape round sign sin sinh size sort sqrt square squeeze stack std subtract
    sum swapaxes take tan tanh tile trace transpose tril triu true_divide unique var vstack where
    zeros zeros_like
    """.split()
)
NUMPY_CONSTANTS_AND_TYPES = frozenset(
    "pi e inf nan newaxis float64 float32 int64 int32 int8 uint8 bool_ integer floating number".split()
)
LINALG_FUNCTIONS = frozenset("cholesky det eigh eigvalsh inv lstsq matrix_rank norm pinv qr slogdet solve svd".split())
SMPC_FUNCTIONS = frozenset(name for name in lib.__all__ if name != "SecretArray")


class Facade:
    """A read-only namespace of allow-listed members (what ``np.x`` and ``smpc.x`` resolve to)."""

    __slots__ = ("_label", "_members")

    def __init__(self, label: str, members: Mapping[str, Any]):
        object.__setattr__(self, "_label", label)
        object.__setattr__(self, "_members", dict(members))

    @property
    def members(self) -> frozenset[str]:
        return frozenset(self._members)

    def member(self, name: str) -> Any:
        return self._members[name]

    def __getattr__(self, name: str) -> Any:
        try:
            return self._members[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{self._label} is read-only inside a %%smpc cell")

    def __dir__(self) -> Iterable[str]:
        return sorted(self._members)

    def __repr__(self) -> str:
        return f"<{self._label} inside a %%smpc cell: {len(self._members)} functions>"


def _pick(module: Any, names: Iterable[str]) -> dict[str, Any]:
    return {name: getattr(module, name) for name in names if hasattr(module, name)}


def numpy_facade() -> Facade:
    members = _pick(np, NUMPY_FUNCTIONS | NUMPY_CONSTANTS_AND_TYPES)
    members["linalg"] = Facade("np.linalg", _pick(np.linalg, LINALG_FUNCTIONS))
    return Facade("np", members)


STATS_FUNCTIONS = frozenset(stats.__all__)


def smpc_facade() -> Facade:
    members = _pick(lib, SMPC_FUNCTIONS)
    members["stats"] = Facade("smpc.stats", _pick(stats, STATS_FUNCTIONS))
    return Facade("smpc", members)


NP = numpy_facade()
SMPC = smpc_facade()
