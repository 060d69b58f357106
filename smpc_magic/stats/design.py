"""Design matrices for the statistics: secret columns with public names, each centred and
scaled by public numbers from its declared range so that every column lies in [-1, 1].

Centring by the middle of the declared range and dividing by a power of two are exact on the
shares (an integer column stays exact, a fixed-point one only changes its number of fractional
bits), so a column of ages in years and one of costs in pounds keep the same relative
precision in every product that follows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import MissingValuesError, OverflowRiskError, RangeNeededError, SecretValueError, StreamedRowsError
from ..secret.array import SecretArray
from ..secret.frames import LEVEL_SEPARATOR, OBSERVED_SUFFIX, SecretFrame
from ..secret.functions import divide, rsqrt, sqrt
from ..secret.precision import public_bound, times_power_of_two, undeclared, working_precision
from ..secret.streamed import StreamedColumn, streamed_parts


@dataclass(frozen=True)
class Column:
    """A secret column z = (x - centre) / 2**exponent with |z| <= 1, and its public name."""

    name: str
    z: SecretArray
    centre: float
    exponent: int


def columns(x: Any, what: str, prefix: str = "x", *, streamed: bool = False) -> tuple[list[Any], list[str]]:
    """The secret columns of a SecretFrame, a secret matrix or vector, or a list of secret vectors;
    with ``streamed``, also the columns of rows read in blocks (for statistics built on
    :func:`~smpc_magic.stats.moments.moments` alone), which other callers refuse clearly."""
    parts = streamed_parts(x)
    if parts is not None:
        if not streamed:
            raise StreamedRowsError.about(parts[0].name, f"{what} needs the rows themselves")
        frame_columns = parts[0].columns
        may_be_missing = [n for n in parts[2] if f"{n.split(LEVEL_SEPARATOR, 1)[0]}{OBSERVED_SUFFIX}" in frame_columns]
        if may_be_missing:
            raise MissingValuesError(
                f"{what}: {', '.join(repr(n) for n in may_be_missing)} may be missing, and statistics of rows read in "
                "blocks do not leave missing values out yet (they would count as 0). Nothing was sent. Leave that "
                "column out, or mark a data frame that fits in memory private instead"
            )
        return list(parts[1]), parts[2]
    if isinstance(x, SecretFrame):
        return [x[c] for c in x.columns], list(x.columns)
    if isinstance(x, SecretArray):
        if x.ndim == 1:
            return [x], [variable_name(x) or prefix]
        if x.ndim == 2:
            return [x[:, j] for j in range(x.shape[1])], [f"{prefix}{j + 1}" for j in range(x.shape[1])]
    if isinstance(x, list | tuple) and x and all(isinstance(c, SecretArray) and c.ndim == 1 for c in x):
        return list(x), [f"{prefix}{j + 1}" for j in range(len(x))]
    raise SecretValueError(
        f"{what} needs secret data: a private data frame (or some of its columns), a secret matrix "
        f"or a secret vector; got {type(x).__name__}"
    )


def variable_name(x: Any) -> str:
    """A variable's public name: a frame column's, or a categorical variable's (its level
    columns ``drug=warfarin``, ...); "" for a value the cell computed."""
    if isinstance(x, SecretFrame) and isinstance(x.__dict__.get("_variable"), str):
        return str(x.__dict__["_variable"])
    if isinstance(x, SecretFrame):
        stems = {c.split(LEVEL_SEPARATOR, 1)[0] for c in x.columns}
        return stems.pop() if len(stems) == 1 and all(LEVEL_SEPARATOR in c for c in x.columns) else ""
    name = getattr(x, "__dict__", {}).get("_name", "")
    return name if isinstance(name, str) else ""


def vector(y: Any, what: str, *, streamed: bool = False) -> Any:
    """A secret vector (a frame's single column, or a 1-d secret array)."""
    cols, _ = columns(y, what, "y", streamed=streamed)
    if len(cols) != 1:
        raise SecretValueError(f"{what} needs one secret column, got {len(cols)}")
    return cols[0]


def normalised_all(xs: list[Any], names: list[str], what: str) -> list[Column]:
    """Every column :func:`normalised`; columns without a declared range are all named at once
    (before anything is sent), not one rerun at a time."""
    missing = [(x, name) for x, name in zip(xs, names) if not isinstance(x, StreamedColumn) and undeclared(x)]
    if missing:
        listed = ", ".join(repr(name) for _, name in missing)
        raise RangeNeededError(
            f"{what} works on each column scaled by its declared range, and "
            f"{'column' if len(missing) == 1 else 'columns'} {listed} {'has' if len(missing) == 1 else 'have'} none",
            inputs=tuple(x for x, _ in missing),
        )
    return [normalised(x, name, what) for x, name in zip(xs, names)]


def normalised(x: SecretArray, name: str, what: str) -> Column:
    """``x`` centred by the integer nearest the middle of its declared range and divided by the
    smallest power of two that brings it into [-1, 1]."""
    low, high = public_bound(x)
    lo, hi = float(low.min()), float(high.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise OverflowRiskError(f"{what}: column {name!r} has no finite declared range", operation=what)
    if not isinstance(x, StreamedColumn) and undeclared(x):  # (before anything is sent)
        raise RangeNeededError(
            f"{what} works on each column scaled by its declared range, and column {name!r} has none", inputs=(x,)
        )
    centre = float(round((lo + hi) / 2))
    half = max(hi - centre, centre - lo)
    if half <= 0:
        raise SecretValueError(
            f"{what}: column {name!r} is constant by its declared range [{lo:g}, {hi:g}]; leave it out"
        )
    exponent = math.ceil(math.log2(half))
    if isinstance(x, StreamedColumn):  # each site normalises its own rows when it reads them
        return Column(name, x, centre, exponent)  # type: ignore[arg-type]
    shifted = x - centre if centre else x  # exact: the centre is a whole number
    return Column(name, times_power_of_two(shifted, -exponent), centre, exponent)


def stacked(cols: list[Column]) -> SecretArray:
    """The normalised columns as one n x k secret matrix (at the finest of their scales)."""
    return np.column_stack([c.z for c in cols])  # type: ignore[return-value]


def powers_of_two(exponents: list[int]) -> np.ndarray:
    return np.power(2.0, np.asarray(exponents, dtype=np.float64))


def exactly_scaled(x: Any, exponents: np.ndarray) -> Any:
    """``x * 2**exponents`` entry by entry, exactly (no rounds): for small results (a p x p
    covariance) whose entries have different units."""
    flat = x.reshape(-1)
    parts = [times_power_of_two(flat[i : i + 1], int(e)) for i, e in enumerate(np.asarray(exponents).reshape(-1))]
    return np.concatenate(parts).reshape(x.shape)


#: Square roots and divisions run at this precision: the function library's polynomial and
#: Newton steps are tuned for it.
ROOT_BITS = 24


def root(x: Any) -> Any:
    """sqrt(x) at :data:`ROOT_BITS` fractional bits (about 2e-5 relative for x >= 2**-12)."""
    with working_precision(x, ROOT_BITS):
        return sqrt(x)


def inverse_root(x: Any) -> Any:
    """1/sqrt(x) at :data:`ROOT_BITS` fractional bits."""
    with working_precision(x, ROOT_BITS):
        return rsqrt(x)


def quotient(a: Any, b: Any, known: tuple[float, float]) -> Any:
    """a / b for a secret b with a proved range for the quotient, at :data:`ROOT_BITS` (the
    reciprocal's Newton steps lose accuracy at finer working precisions)."""
    with working_precision(b, ROOT_BITS):
        return divide(a, b, known=known)
