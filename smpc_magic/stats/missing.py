"""Missing values and row filters in statistics: which rows of a statistic's inputs are kept.

A variable the study schema allows to be missing is shared as 0 where it is missing, with a
secret 0/1 ``:observed`` column; every value derived from it carries that column in its
provenance (:mod:`smpc_magic.secret.provenance`). A statistic multiplies its rows by the
product of those columns (the complete cases, as statsmodels' ``missing="drop"``; per column for
means, variances and ``describe``, as pandas' ``skipna``), so a missing value is never counted
as 0. Which rows are missing stays secret; how many rows were used is a count, released under
the policies' rules. A secret row filter (``cohort[cohort['age'] > 65]``) works the same way:
its rows where the filter is 0 are 0 and not observed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..errors import MissingValuesError, SecretValueError
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
    """What leaves rows out, for a message: ``'bmi', 'sbp'`` (may be missing) or a row filter."""
    found = list(observed)
    names = sorted({repr(str(f._variable)) for f in found if getattr(f, "_variable", None) is not None})
    if any(getattr(f, "_variable", None) is None for f in found):
        names.append("a secret row filter (frame[mask])")
    return ", ".join(names)


def schema_columns(observed: Iterable[Any]) -> list[Any]:
    """The ``:observed`` columns of variables that may be missing (not the cell's own filters)."""
    return [f for f in observed if getattr(f, "_variable", None) is not None and not getattr(f, "_filter", False)]


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
            positions = _positions_of(f, rows, what)
            part = f if positions is None else f[positions]
            cache[key] = part
            mask = part if mask is None else mask * part
    return mask


def _positions_of(f: Any, rows: np.ndarray, what: str) -> np.ndarray | None:
    """Where in ``f`` each of ``rows`` (input row ids) is; None when it is ``f`` as it stands."""
    ids = np.broadcast_to(f._prov.rowid, f.shape).reshape(-1)
    if np.array_equal(ids, rows):
        return None
    if np.any(ids < 0) or len(np.unique(ids)) != len(ids):
        raise MissingValuesError(f"{what}: the rows of {variables([f])} cannot be matched to this value's rows")
    order = np.argsort(ids)
    found = np.searchsorted(ids, rows, sorter=order)
    found = np.minimum(found, len(ids) - 1)
    if not np.array_equal(ids[order[found]], rows):
        raise MissingValuesError(f"{what}: {variables([f])} does not cover every row of this value")
    return order[found]


def _row_ids(value: SecretCore, n: int, what: str) -> np.ndarray:
    """The input row behind each of the value's rows; refuses a layout the engine does not follow."""
    ids = np.broadcast_to(value._prov.rowid, value.shape).reshape(n, -1) if value.ndim else None
    if ids is None or len(ids) != n or np.any(ids < 0) or np.any(ids != ids[:, :1]):
        raise MissingValuesError(
            f"{what}: {variables(value._prov.observed)} leaves rows out (missing values or a filter), and the rows of "
            "this value are combined or reordered in a way the engine cannot follow to leave them out (it would "
            "count them as 0). "
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
            f"{what} does not leave rows out yet, and {variables(observed)} does (a variable the study schema "
            "declares missing = true, or a secret filter): it would count those rows as 0. Nothing was sent. Use "
            "variables without missing values and no filter, or ask the sites to exclude or impute the missing rows "
            "before marking the frame private"
        )


def secret_values(args: Iterable[Any]) -> Iterable[SecretCore]:
    """The secret arrays among ``args`` (a frame's columns, lists' items)."""
    return _secrets(args)


def _secrets(args: Iterable[Any]) -> Iterable[SecretCore]:
    for arg in args:
        if isinstance(arg, SecretCore):
            yield arg
        elif isinstance(arg, SecretFrame):
            yield from (arg[c] for c in arg.columns)
        elif isinstance(arg, list | tuple):
            yield from _secrets(arg)


def require_row_data(value: Any, what: str, role: str) -> None:
    """``value`` must be the rows' own data (derived row by row from private inputs, each row
    the same way): not public values, and not data combined with public values that differ by
    row (a public ordering added to times, a site label as a covariate), whose order or groups
    the analyst would know. Raised before anything is sent (it depends on public facts only)."""
    if not isinstance(value, SecretCore) or value.ndim == 0:
        return
    prov = value._prov
    ids = np.broadcast_to(prov.rowid, value.shape)
    pattern = np.asarray(prov.pattern)
    public_rows = bool(np.any(ids == NONE))
    differs = pattern.ndim >= 1 and pattern.shape[0] > 1 and not np.all(pattern == pattern.reshape(-1)[0])
    if public_rows or differs:
        raise SecretValueError(
            f"{what}: {role} must be the rows' own data, computed the same way for every row from private "
            "columns; here it is built from public values that differ by row (or holds public values), which "
            "would let the order or the groups of rows be known. Pass the private column (or a function of it "
            "applied to every row alike)"
        )
