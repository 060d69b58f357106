"""A site's private inputs against the session's study schema, before anything is shared.

With a schema, every private input is a declared variable or a data frame of declared
variables; categorical columns become one secret 0/1 column per declared level
(``df['sex=female']``). Broken rules are returned, not raised: the site still joins the
rendezvous (which shares nothing of the inputs) so that every site stops together, naming this
site and the rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from ..errors import SchemaError
from ..schema import StudySchema, Violation, check_data
from ..schema.check import columns_of
from ..secret.frames import COLUMN_SEPARATOR, flatten_private, is_dataframe, split_key

LEVEL_SEPARATOR = "="


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
    return flat, violations


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
        if LEVEL_SEPARATOR in name:
            out[key] = (0.0, 1.0)
            continue
        variable = schema.variable(name)
        if variable is None:
            continue
        if variable.kind == "binary":
            out[key] = (0.0, 1.0)
        elif variable.min is not None and variable.max is not None:
            out[key] = (variable.min, variable.max)
    return out


def refusals_for_peers(violations: list[Violation]) -> list[str]:
    """What other sites learn of broken rules: column and rule, not even the row count."""
    return [f"column {v.column!r}: {v.rule}"[:200] for v in violations[:20]]
