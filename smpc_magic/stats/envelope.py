"""A governed way to get ranges: a coarse public envelope of each private column.

``env = smpc.stats.envelope(cohort)`` opens, per numeric column, the power of two above the
largest value (at least 16) and above the largest negated value of the pooled rows (or 0 where
no value is below 0), for the columns without a declared range. The recipients pass it on as declared ranges
(``simulate(..., ranges=env)``, ``%smpc private cohort --ranges-from env``), so an analyst never
guesses a range, and every later statistic has a tight public bound.

What it discloses: for each column, two whole numbers, the powers of two above the most
extreme rows' magnitudes (a fact about the most extreme patient within a factor of two, and
nothing below 16, so a 0/1 column's envelope does not say whether anyone has the condition) and
whether any value is negative. It is a release like any other, governed by the
``envelopes`` rule of the sites' policies (allowed by default, as DataSHIELD's range is; a
custodian refuses it with ``envelopes = false``), and by ``per_site`` for a column one site holds
alone. It takes the private inputs only as they were shared: a derived, filtered, sliced or
modified column would let a cell ask about chosen rows (``x * (x > 80)``), so it is refused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import SecretValueError
from ..secret.array import SecretArray
from ..secret.compare import amax
from ..secret.frames import LEVEL_SEPARATOR, OBSERVED_SUFFIX, SecretFrame
from ..secret.provenance import Provenance
from .disclosure import ENVELOPE, Requirement, declare
from .results import ReleasedResult, SecretResult

#: the smallest power of two an envelope reports: [0, 16] for a 0/1 column whatever its count
#: (an envelope of [0, 0] would say that nobody has the condition)
LOWEST = 4
WHAT = "smpc.stats.envelope"


class Envelope(SecretResult):
    KIND = "envelope"
    SECRET = ("steps",)  # 2 x columns: see _steps
    PUBLIC = ("names",)


class ReleasedEnvelope(ReleasedResult):
    """At a recipient: ``{column: (lo, hi)}``, usable as ``ranges=``."""

    KIND = "envelope"

    def ranges(self) -> dict[str, tuple[float, float]]:
        steps = np.asarray(self.fields["steps"]).reshape(2, -1)
        names = [str(n) for n in np.asarray(self.fields["names"]).reshape(-1)]
        return {
            name: (0.0 if low <= 0 else -(2.0 ** (LOWEST + int(low) - 1)), 2.0 ** (LOWEST + int(high)))
            for name, high, low in zip(names, steps[0], steps[1])
        }

    # a mapping of column -> (lo, hi), so that it passes as ranges= wherever a dict does
    def keys(self) -> Any:
        return self.ranges().keys()

    def items(self) -> Any:
        return self.ranges().items()

    def __getitem__(self, name: str) -> tuple[float, float]:
        return self.ranges()[name]

    def __iter__(self) -> Any:
        return iter(self.ranges())

    def __len__(self) -> int:
        return len(self.ranges())

    def summary(self) -> str:
        lines = ["Envelope (public ranges from the pooled rows: powers of two)"]
        lines += [f"  {name}: [{lo:g}, {hi:g}]" for name, (lo, hi) in self.ranges().items()]
        return "\n".join(lines)


Mapping.register(ReleasedEnvelope)


def envelope(x: Any) -> Envelope:
    """Per numeric column of a private frame (or a private array), a public range that holds
    every pooled value: [-2**a, 2**b], a and b the powers of two above the largest magnitudes
    below and above 0 (0 where there are none). One maximum over the rows and one comparison
    batch; see the module for what it discloses."""
    parts = _shared_inputs(x)
    columns = [c for _, c in parts]
    # one tree per scale (an undeclared integer column fits no fixed point beside the others)
    scales = sorted({c._scale for c in columns})
    order = [i for scale in scales for i, c in enumerate(columns) if c._scale == scale]
    blocks = [_steps(np.column_stack([c.reshape(-1) for c in columns if c._scale == s])) for s in scales]
    steps: Any = blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1)
    if order != sorted(order):
        steps = steps[:, np.argsort(order)]
    # a public-range fact of each column, not a row: an aggregate of that column's sites' rows (a
    # column one site holds alone, as in columns of the same patients at two sites, is per-site)
    per_column = []
    for j, column in enumerate(columns):
        part = steps[:, j : j + 1]
        sites = int(np.bitwise_or.reduce(np.asarray(column._prov.sites).reshape(-1)))
        part._prov = Provenance.aggregate([i for i in range(64) if (sites >> i) & 1], len(column), part.shape)
        per_column.append(part)
    steps = per_column[0] if len(per_column) == 1 else np.concatenate(per_column, axis=1)
    result = Envelope(steps=steps, names=np.array([name for name, _ in parts]))
    return declare(result, Requirement(ENVELOPE))


def _steps(data: Any) -> Any:
    """2 x columns: above, how many of 2**LOWEST, 2**(LOWEST + 1), ... max(x) exceeds; below,
    whether max(-x) exceeds 0 plus how many of those powers it exceeds."""
    p = data.shape[1]
    both: Any = np.concatenate([data, -data], axis=1)  # max(x) and max(-x) = -min(x) in one tree
    top = amax(both, axis=0)
    # a few units of the last place below each power: a value stored a rounding step below one
    # (16.000001 stored as 16.0) is counted above it, so the range holds the value as given
    margin = 4 * 2.0**-top._scale if top._scale else 0.0
    # powers up to the one below the values' public bound (and what fixed point encodes)
    bound = min(float(data._bound.magnitude()), top._ctx.suite.codec.max_magnitude(top._scale) / 2)
    highest = max(LOWEST, math.ceil(math.log2(bound)) - 1)
    thresholds = np.array([0.0] + [2.0**k - margin for k in range(LOWEST, highest + 1)])
    if not top._scale:  # whole numbers against whole numbers (a float would be encoded as fixed point)
        thresholds = np.ceil(thresholds).astype(np.int64)
    above: Any = top[:, None] > thresholds[None, :]  # one comparison batch
    high = above[:p, 1:].sum(axis=1)  # (not whether max(x) > 0: a 0/1 column's would be a count's)
    low = above[p:, :].sum(axis=1)
    return np.stack([high, low])


def _shared_inputs(x: Any) -> list[tuple[str, SecretArray]]:
    """(name, column) of each numeric private input column as shared: unchanged, unfiltered."""
    if isinstance(x, SecretFrame):
        candidates = [(c, x[c]) for c in x.columns if LEVEL_SEPARATOR not in c and not c.endswith(OBSERVED_SUFFIX)]
    elif isinstance(x, SecretArray):
        candidates = [("", x)]
    else:
        raise SecretValueError(f"{WHAT} takes a private data frame or a private array, as marked private")
    # only columns without a declared range (a declared one is known; an envelope would add only
    # facts about the most extreme rows)
    undeclared = [
        (n, c) for n, c in candidates if c._bound.magnitude() >= c._ctx.suite.codec.max_magnitude(c._scale) / 8
    ]
    if not undeclared or (len(undeclared) < len(candidates) and not isinstance(x, SecretFrame)):
        raise SecretValueError(f"{WHAT}: the columns have declared ranges already; an envelope is for columns without")
    found = []
    for name, column in undeclared:
        marker = column.__dict__.get("_input")
        if marker is None or marker[1] is not column._prov or marker[2] is not column._share or column.ndim != 1:
            raise SecretValueError(
                f"{WHAT} takes the private inputs as they were shared (a frame, its columns, an array): "
                f"{name or 'this value'} was derived, filtered, sliced or modified, which would let a cell ask "
                "about chosen rows. Pass the input itself"
            )
        found.append((marker[0], column))
    if not found:
        raise SecretValueError(f"{WHAT}: the frame has no numeric column (levels and :observed columns are 0/1)")
    return found
