"""A first draft of a study schema from one site's local data, for the analysts to edit and
agree. The ranges it proposes are this site's own minimum and maximum, widened: sites replace
them with the ranges the study agrees on before they share the file."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .check import columns_of, missing_mask
from .model import StudySchema, Variable

#: A column with at most this many distinct text values is drafted as categorical.
MAX_DRAFT_LEVELS = 50


def draft_schema(data: Any, name: str = "study") -> StudySchema:
    """One variable per column, with kinds, ranges and levels guessed from the data."""
    variables = []
    for column, values in columns_of(data).items():
        variables.append(_draft_variable(column, values))
    return StudySchema(name, 1, tuple(variables))


def _draft_variable(column: str, values: np.ndarray) -> Variable:
    missing = missing_mask(values)
    present = values[~missing]
    safe = "".join(c if c.isalnum() or c == "_" else "_" for c in column) or "column"
    safe = safe if safe[0].isalpha() else f"v_{safe}"
    note = "" if safe == column else f"column {column!r} in the data"
    if values.dtype.kind == "b":
        return Variable(safe, "binary", description=note, missing=bool(missing.any()))
    try:
        numbers = present.astype(np.float64)
    except (TypeError, ValueError):
        levels = tuple(sorted({str(v) for v in present}))[:MAX_DRAFT_LEVELS]
        return Variable(safe, "categorical", description=note, levels=levels, missing=bool(missing.any()))
    if numbers.size and set(np.unique(numbers)) <= {0.0, 1.0}:
        return Variable(safe, "binary", description=note, missing=bool(missing.any()))
    integer = numbers.size > 0 and bool(np.all(numbers == np.round(numbers)))
    low = float(numbers.min()) if numbers.size else 0.0
    high = float(numbers.max()) if numbers.size else 0.0
    return Variable(
        safe,
        "integer" if integer else "continuous",
        description=(note + "; " if note else "") + "range drafted from one site's data: agree it with all sites",
        min=_round_out(low, down=True),
        max=_round_out(high, down=False),
        missing=bool(missing.any()),
    )


def _round_out(value: float, down: bool) -> float:
    """A round number beyond ``value`` (so the draft does not state the site's exact extremes)."""
    if value == 0:
        return 0.0
    step = 10.0 ** math.floor(math.log10(abs(value)))
    return float((math.floor if down else math.ceil)(value / step) * step)
