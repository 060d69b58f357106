"""A site's private inputs against the session's study schema, before anything is shared.

With a schema, every private input is a declared variable or a data frame of declared
variables; categorical columns become one secret 0/1 column per declared level
(``df['sex=female']``). A variable that allows missing values also brings a 0/1 column
``df['bmi:observed']`` (1 where the value is present; the value itself is 0 where it is not),
at every site whatever its own data holds, so that pooled frames line up. Broken rules are returned, not raised: the site still joins the
rendezvous (which shares nothing of the inputs) so that every site stops together, naming this
site and the rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from ..errors import SchemaError
from ..schema import StudySchema, Violation, check_data
from ..schema.check import columns_of, missing_mask
from ..secret.frames import COLUMN_SEPARATOR, LEVEL_SEPARATOR, OBSERVED_SUFFIX, flatten_private, is_dataframe, split_key


def flatten_with_schema(
    private: Mapping[str, object], schema: StudySchema | None
) -> tuple[dict[str, np.ndarray], list[Violation]]:
    """The arrays to share (``name`` or ``frame/column``) and the rules the data breaks."""
    flat: dict[str, np.ndarray] = {}
    violations: list[Violation] = []
    for name, value in private.items():
        if schema is None:
            flat.update(flatten_private(name, value))
            continue
        frame, own_column = split_key(name)  # simulate hands frames over as frame/column arrays
        if is_dataframe(value):
            columns = columns_of(value)
            violations += [_in_frame(v, name) for v in check_data(schema, columns)]
        else:
            arr = np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value)
            columns = {own_column or name: arr}
            found = check_data(schema, columns)
            violations += [_in_frame(v, frame) for v in found] if own_column else found
        in_frame = is_dataframe(value) or own_column is not None
        for column, values in columns.items():
            key = f"{name}{COLUMN_SEPARATOR}{column}" if is_dataframe(value) else name
            variable = schema.variable(column)
            absent = missing_mask(values) if variable is not None and variable.missing else None
            if absent is not None and variable is not None and variable.kind != "categorical":
                values = _zero_filled(values, absent, variable.kind)
            if variable is not None and variable.kind == "categorical":
                if not in_frame:
                    raise SchemaError(
                        f"{name!r} is categorical: mark a data frame holding it, so that its levels become columns"
                    )
                text = np.array([str(v) for v in values])
                for level in variable.levels:
                    flat[f"{key}{LEVEL_SEPARATOR}{level}"] = (text == level).astype(np.int64)
            else:
                flat[key] = values
            if absent is not None:
                flat[f"{key}{OBSERVED_SUFFIX}"] = (~absent).astype(np.int64)
    return flat, violations


def _zero_filled(values: np.ndarray, absent: np.ndarray, kind: str) -> np.ndarray:
    """Missing entries as 0 (their ``:observed`` column says they are absent)."""
    filled = np.where(absent, 0, values)
    if kind == "integer" or kind == "binary":
        numbers = filled.astype(np.float64)
        if np.isfinite(numbers).all() and (numbers == np.round(numbers)).all():
            return numbers.astype(np.int64)
    return filled.astype(np.float64) if filled.dtype.kind == "O" else filled


def _in_frame(violation: Violation, frame: str) -> Violation:
    return Violation(f"{frame}/{violation.column}", violation.rule, violation.rows, violation.first_rows)


def declared_ranges(keys: Iterable[str], schema: StudySchema | None) -> dict[str, tuple[float, float]]:
    """The public [min, max] the schema declares for each input key (categorical levels: 0/1)."""
    if schema is None:
        return {}
    out = {}
    for key in keys:
        frame, column = split_key(key)
        name = column or frame
        if LEVEL_SEPARATOR in name or name.endswith(OBSERVED_SUFFIX):
            out[key] = (0.0, 1.0)
            continue
        variable = schema.variable(name)
        if variable is None:
            continue
        if variable.kind == "binary":
            out[key] = (0.0, 1.0)
        elif variable.min is not None and variable.max is not None:
            lo, hi = variable.min, variable.max
            # a missing value is shared as 0, so the public range must hold 0
            out[key] = (min(lo, 0.0), max(hi, 0.0)) if variable.missing else (lo, hi)
    return out


def site_ranges(
    flat: Mapping[str, np.ndarray], ranges: Mapping[str, tuple[float, float]], schema: StudySchema | None
) -> tuple[dict[str, tuple[float, float]], list[Violation]]:
    """Ranges a site declared itself (``%smpc private x --range LO HI``) for plain arrays, and
    the values that break them (reported like schema rules: every site stops, nothing shared)."""
    out: dict[str, tuple[float, float]] = {}
    violations: list[Violation] = []
    for name, (lo, hi) in ranges.items():
        if name not in flat:
            continue
        if schema is not None and schema.variable(name) is not None:
            raise SchemaError(f"{name!r} has its range in the study schema; drop --range or change the schema")
        values = np.asarray(flat[name], dtype=np.float64)
        bad = ~((values >= lo) & (values <= hi))  # NaN breaks the range too
        if bad.any():
            first = tuple(int(r) for r in np.flatnonzero(bad.reshape(-1))[:5])
            violations.append(Violation(name, f"outside the declared range [{lo:g}, {hi:g}]", int(bad.sum()), first))
        out[name] = (float(lo), float(hi))
    return out, violations


def refusals_for_peers(violations: list[Violation]) -> list[str]:
    """What other sites learn of broken rules: column and rule, not even the row count."""
    return [f"column {v.column!r}: {v.rule}"[:200] for v in violations[:20]]
