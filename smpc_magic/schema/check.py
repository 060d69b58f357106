"""A site's data against the study schema, before anything is shared.

Each broken rule is reported with its column, the rule and how many rows break it. The row
numbers are for the site that owns the data (shown in its own notebook or terminal); what may
go to other sites is :attr:`Violation.summary`, which holds no value of the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SchemaError
from .model import StudySchema, Variable


@dataclass(frozen=True)
class Violation:
    column: str
    rule: str
    rows: int
    first_rows: tuple[int, ...] = ()  # local only: where to look

    @property
    def summary(self) -> str:
        """Column, rule and count: no value of the data."""
        return f"column {self.column!r}: {self.rule} ({self.rows} row{'s' if self.rows != 1 else ''})"

    @property
    def local_detail(self) -> str:
        rows = ", ".join(str(r) for r in self.first_rows)
        return f"{self.summary}; first rows: {rows}" if rows else self.summary


def columns_of(data: Any) -> dict[str, np.ndarray]:
    """The columns of a pandas DataFrame or a mapping of names to arrays, as numpy arrays."""
    if hasattr(data, "columns") and hasattr(data, "to_numpy"):
        return {str(c): np.asarray(data[c].to_numpy(dtype=object if _is_text(data[c]) else None)) for c in data.columns}
    if isinstance(data, Mapping):
        return {str(k): np.asarray(v) for k, v in data.items()}
    raise SchemaError(f"cannot check a {type(data).__name__} against a schema; give a data frame")


def _is_text(series: Any) -> bool:
    return str(series.dtype) in ("object", "category", "string", "str") or str(series.dtype).startswith("string")


def check_data(schema: StudySchema, data: Any, *, require_all: bool = False) -> list[Violation]:
    """Every rule ``data`` breaks: undeclared columns, missing values, ranges, kinds, levels.

    ``require_all`` also reports declared variables the data lacks (a site need not hold every
    variable of a study, so this is off for ``%smpc private``)."""
    columns = columns_of(data)
    out: list[Violation] = []
    for name in columns:
        if schema.variable(name) is None:
            if not schema.open_columns:
                out.append(Violation(name, "not declared in the schema", len(columns[name])))
    if require_all:
        out += [
            Violation(v.name, "declared but absent from the data", 0) for v in schema.variables if v.name not in columns
        ]
    for name, values in columns.items():
        variable = schema.variable(name)
        if variable is not None:
            out += _check_column(variable, values)
    return out


def _rows(mask: np.ndarray) -> tuple[int, tuple[int, ...]]:
    where = np.flatnonzero(mask)
    return int(where.size), tuple(int(r) for r in where[:5])


def missing_mask(values: np.ndarray) -> np.ndarray:
    """True where a value is missing (NaN or None)."""
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind == "O":
        return np.array([v is None or (isinstance(v, float) and np.isnan(v)) for v in values], dtype=bool)
    return np.zeros(values.shape, dtype=bool)


def _check_column(variable: Variable, values: np.ndarray) -> list[Violation]:
    out = []
    missing = missing_mask(values)
    if missing.any() and not variable.missing:
        out.append(Violation(variable.name, "missing values where the schema allows none", *_rows(missing)))
    present = values[~missing]
    if variable.kind == "categorical":
        levels = set(variable.levels)
        bad = np.array([str(v) not in levels for v in present], dtype=bool)
        if bad.any():
            out.append(
                Violation(variable.name, f"a level not among {list(variable.levels)}", *_rows(_spread(bad, missing)))
            )
        return out
    try:
        numbers = present.astype(np.float64)
    except (TypeError, ValueError):
        return [
            *out,
            Violation(variable.name, f"text where the schema declares a {variable.kind} variable", int(present.size)),
        ]
    if variable.kind == "binary":
        bad = (numbers != 0) & (numbers != 1)
        if bad.any():
            out.append(
                Violation(
                    variable.name, "a value other than 0 or 1 in a binary variable", *_rows(_spread(bad, missing))
                )
            )
        return out
    if not np.isfinite(numbers).all():
        out.append(Violation(variable.name, "an infinite value", *_rows(_spread(~np.isfinite(numbers), missing))))
    if variable.kind == "integer":
        bad = np.isfinite(numbers) & (numbers != np.round(numbers))
        if bad.any():
            out.append(
                Violation(variable.name, "a fractional value in an integer variable", *_rows(_spread(bad, missing)))
            )
    low = -np.inf if variable.min is None else variable.min
    high = np.inf if variable.max is None else variable.max
    bad = np.isfinite(numbers) & ((numbers < low) | (numbers > high))
    if bad.any():
        out.append(
            Violation(
                variable.name,
                f"outside the declared range [{variable.min:g}, {variable.max:g}]",
                *_rows(_spread(bad, missing)),
            )
        )
    return out


def _spread(bad_present: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """A mask over present values as a mask over all rows (row numbers the site can look up)."""
    full = np.zeros(missing.shape, dtype=bool)
    full[~missing] = bad_present
    return full


def require_conformance(schema: StudySchema, data: Any, what: str) -> None:
    """Raise :class:`SchemaError` listing every broken rule (at the site that owns the data)."""
    require_conformance_of(schema, check_data(schema, data), what)


def require_conformance_of(schema: StudySchema, violations: list[Violation], what: str) -> None:
    """Raise :class:`SchemaError` for ``violations`` with their rows (only at their own site)."""
    if violations:
        listed = "; ".join(v.local_detail for v in violations[:10])
        more = f" (and {len(violations) - 10} more)" if len(violations) > 10 else ""
        raise SchemaError(
            f"{what} breaks the study schema {schema.name!r}: {listed}{more}. Nothing was shared. "
            "Fix the data (or agree a new schema version with the other sites) and run again; "
            "`smpc schema check SCHEMA DATAFILE` lists every row."
        )
