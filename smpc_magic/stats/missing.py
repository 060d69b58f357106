"""Missing values in statistics: which rows of a statistic's inputs are observed.

A variable the study schema allows to be missing is shared as 0 where it is missing, with a
secret 0/1 ``:observed`` column; every value derived from it carries that column in its
provenance (:mod:`smpc_magic.secret.provenance`). A statistic multiplies its rows by the
product of those columns (the complete cases, as statsmodels' ``missing="drop"``; per column for
means, variances and ``describe``, as pandas' ``skipna``), so a missing value is never counted
as 0. Which rows are missing stays secret; how many rows were used is a count, released under
the policies' rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..errors import MissingValuesError
from ..secret.core import SecretCore
from ..secret.frames import SecretFrame
from ..secret.provenance import NONE


def observed_columns(*args: Any) -> list[Any]:
    """The ``:observed`` columns behind the secret arguments (each once)."""
    found: dict[int, Any] = {}
    for value in _secrets(args):
        for f in value._prov.observed:
            found.setdefault(id(f), f)
    return list(found.values())


def variables(observed: Iterable[Any]) -> str:
    """The variables' names for a message: ``'bmi', 'sbp'``."""
    names = sorted({str(getattr(f, "_variable", "a variable")) for f in observed})
    return ", ".join(repr(n) for n in names)


def rows_observed(values: Iterable[Any], n: int, what: str) -> Any:
    """A secret 0/1 vector of ``n`` rows: 1 where every variable behind ``values`` (secret
    arrays whose axis 0 is the statistic's rows) is observed; None when none may be missing."""
    mask: Any = None
    cache: dict[tuple[int, bytes], Any] = {}
    for value in values:
        if not isinstance(value, SecretCore) or not value._prov.observed:
            continue
        rows = _row_ids(value, n, what)
        for f in value._prov.observed:
            key = (id(f), rows.tobytes())
            if key in cache:
                continue
            part = f if len(f) == n and np.array_equal(rows, np.arange(n)) else f[rows]
            cache[key] = part
            mask = part if mask is None else mask * part
    return mask


def _row_ids(value: SecretCore, n: int, what: str) -> np.ndarray:
    """The input row behind each of the value's rows; refuses a layout the engine does not follow."""
    ids = np.broadcast_to(value._prov.rowid, value.shape).reshape(n, -1) if value.ndim else None
    if ids is None or len(ids) != n or np.any(ids < 0) or np.any(ids != ids[:, :1]):
        raise MissingValuesError(
            f"{what}: {variables(value._prov.observed)} may be missing, and the rows of this value are combined or "
            "reordered in a way the engine cannot follow to leave the missing ones out (it would count them as 0). "
            "Pass the frame's columns, or values computed row by row from them (cohort['bmi'] * 2, np.log(...))"
        )
    if np.any(ids[:, 0] == NONE):  # (excluded above; kept for clarity of the contract)
        raise AssertionError("row ids")
    return np.ascontiguousarray(ids[:, 0])


def refuse_missing(what: str, *args: Any) -> None:
    """For statistics that do not yet leave missing rows out: stop before anything is sent."""
    observed = observed_columns(*args)
    if observed:
        raise MissingValuesError(
            f"{what} does not leave out missing values yet, and {variables(observed)} may be missing (the study "
            "schema declares missing = true): it would count them as 0. Nothing was sent. Use a variable without "
            "missing values, or ask the sites to exclude or impute the missing rows before marking the frame private"
        )


def _secrets(args: Iterable[Any]) -> Iterable[SecretCore]:
    for arg in args:
        if isinstance(arg, SecretCore):
            yield arg
        elif isinstance(arg, SecretFrame):
            yield from (arg[c] for c in arg.columns)
        elif isinstance(arg, list | tuple):
            yield from _secrets(arg)
