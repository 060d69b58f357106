"""Private frames read in row blocks (``smpc_magic.rows``) on the engine's side: what a site
declares for them in the rendezvous (column names, row count, scale, public range; no values),
how its rows are read and checked block by block when a statistic needs an aggregate, and the
streamed frames every party builds from the declarations.

Each block goes through the same study-schema transformation as a frame held in memory
(categorical levels become 0/1 columns, missing values a ``:observed`` column) and the same
checks. A block that breaks a rule stops this site's computation with the rule named: its
peers learn only that it stopped, as for any other local failure during a cell.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import EncodingError, InputMismatchError, SchemaError
from ..protocols.base import Array, Codec, InputSharing
from ..protocols.context import ProtocolContext
from ..schema import StudySchema
from ..secret.frames import COLUMN_SEPARATOR, LEVEL_SEPARATOR, OBSERVED_SUFFIX, split_key
from ..secret.streamed import BlockReader, StreamedFrame, StreamSet
from ..sources.rows import RowSource
from .schema_inputs import declared_ranges, flatten_with_schema

Declared = Mapping[int, Mapping[str, Mapping[str, Any]]]


def split_streamed(private: Mapping[str, object]) -> tuple[dict[str, object], dict[str, RowSource]]:
    """The private values held in memory, and those read in row blocks."""
    regular = {k: v for k, v in private.items() if not isinstance(v, RowSource)}
    return regular, {k: v for k, v in private.items() if isinstance(v, RowSource)}


class LocalStream:
    """One of this site's private row sources, with the study schema applied block by block."""

    def __init__(
        self, name: str, source: RowSource, schema: StudySchema | None, codec: Codec, frac_bits: int, site: str
    ) -> None:
        self.name, self.source, self.schema = name, source, schema
        self.codec, self.frac_bits, self.site = codec, frac_bits, site
        if schema is not None and source.ranges:
            raise SchemaError(
                f"private rows {name!r}: the study schema declares the ranges; drop rows(..., ranges=) at this site"
            )
        head = source.head(1000)
        if source.n_rows == 0 or len(head) == 0:
            raise EncodingError(f"private rows {name!r} of site {site!r} hold no rows")
        flat = self._checked(head, 0)
        ranges = declared_ranges([f"{name}{COLUMN_SEPARATOR}{k}" for k in flat], schema)
        self.declarations: dict[str, dict[str, Any]] = {}
        for column, values in flat.items():
            key = f"{name}{COLUMN_SEPARATOR}{column}"
            _, scale = codec.encode_input(values, frac_bits, f"column {column!r} of private rows {name!r}")
            if key in ranges:
                bound = ranges[key]
            elif column in source.ranges:
                bound = source.ranges[column]
            elif values.dtype.kind == "b" or LEVEL_SEPARATOR in column or column.endswith(OBSERVED_SUFFIX):
                bound = (0.0, 1.0)
            else:
                raise SchemaError(
                    f"column {column!r} of private rows {name!r} has no declared range: give one in the study schema, "
                    f"or rows(..., ranges={{{column!r}: (min, max)}}); statistics of rows read in blocks are scaled by it"
                )
            self.declarations[key] = {
                "shape": [source.n_rows],
                "scale": scale,
                "bound": [float(bound[0]), float(bound[1])],
                "streamed": True,
            }

    def _checked(self, block: Any, first_row: int) -> dict[str, Array]:
        """A block's columns after the schema's transformation; a broken rule raises, naming it."""
        flat, violations = flatten_with_schema({self.name: block}, self.schema)
        if violations:
            v = violations[0]
            column = split_key(v.column)[1] or v.column
            rows = "1 row" if v.rows == 1 else f"{v.rows} rows"
            raise SchemaError(
                f"private rows {self.name!r} of site {self.site!r}: column {column!r} {v.rule} "
                f"({rows} in the block from row {first_row}); fix the data, nothing was shared"
            )
        out: dict[str, Array] = {}
        for key, values in flat.items():
            column = split_key(key)[1] or key
            arr = np.asarray(values)
            if arr.dtype.kind not in "biuf":
                raise EncodingError(
                    f"column {column!r} of private rows {self.name!r} has dtype {arr.dtype}; only numeric and "
                    "boolean columns can be secret (declare text as a categorical variable in the study schema)"
                )
            out[column] = arr
        return out

    def read(self, columns: Sequence[str]) -> Iterator[dict[str, Array]]:
        """The given columns, block by block, each block checked against the declared ranges."""
        wanted = list(dict.fromkeys(_source_column(c) for c in columns))
        wanted = [c for c in wanted if c in self.source.columns] or self.source.columns
        bounds = {split_key(k)[1]: v["bound"] for k, v in self.declarations.items()}
        first_row = 0
        for block in self.source.blocks(wanted):
            flat = self._checked(block, first_row)
            for column in columns:
                if column not in flat:
                    raise SchemaError(
                        f"private rows {self.name!r}: no column {column!r} in the block from row {first_row}"
                    )
                lo, hi = bounds[column]
                values = np.asarray(flat[column], dtype=np.float64)
                bad = ~((values >= lo) & (values <= hi))
                if bad.any():
                    raise SchemaError(
                        f"private rows {self.name!r} of site {self.site!r}: column {column!r} has {int(bad.sum())} "
                        f"values outside its declared range [{lo:g}, {hi:g}] in the block from row {first_row}; "
                        "fix the data or the range"
                    )
            first_row += len(block)
            yield {c: flat[c] for c in columns}

    def validate(self) -> None:
        """Read every block once (for ``%smpc private``): a broken rule shows before any cell."""
        for _ in self.read([split_key(k)[1] or k for k in self.declarations]):
            pass


def _source_column(column: str) -> str:
    """The source column a shared column comes from (``drug=warfarin`` from ``drug``)."""
    if column.endswith(OBSERVED_SUFFIX):
        return column[: -len(OBSERVED_SUFFIX)]
    return column.split(LEVEL_SEPARATOR, 1)[0]


def is_streamed(declared: Declared, key: str) -> bool:
    return any(bool(d[key].get("streamed")) for d in declared.values() if key in d)


def streamed_frames(
    ctx: ProtocolContext,
    sharing: InputSharing,
    declared: Declared,
    names: list[str],
    first_index: int,
    local: Mapping[str, LocalStream],
) -> dict[str, StreamedFrame]:
    """The streamed frames every party builds from the declarations (the same everywhere)."""
    readers: dict[str, BlockReader] = {name: stream.read for name, stream in local.items()}
    streams = StreamSet(ctx, sharing, first_index, readers)
    keys = sorted({k for d in declared.values() for k in d if is_streamed(declared, k)})
    frames: dict[str, dict[str, tuple[int, tuple[float, float]]]] = {}
    owners: dict[str, list[int]] = {}
    rows: dict[str, list[int]] = {}
    for key in keys:
        frame, column = split_key(key)
        holders = [i for i in sorted(declared) if key in declared[i]]
        mixed = [names[i] for i in holders if not declared[i][key].get("streamed")]
        if mixed or column is None:
            raise InputMismatchError(
                f"private {frame!r} is read in row blocks (smpc_magic.rows) at some sites but held in memory at "
                f"{', '.join(mixed) or 'none'}; mark it the same way everywhere"
            )
        scales = {int(declared[i][key]["scale"]) for i in holders}
        lo = min(float(declared[i][key]["bound"][0]) for i in holders)
        hi = max(float(declared[i][key]["bound"][1]) for i in holders)
        frames.setdefault(frame, {})[column] = (max(scales), (lo, hi))
        counts = [int(declared[i][key]["shape"][0]) for i in holders]
        if frame in owners and (owners[frame] != holders or rows[frame] != counts):
            raise InputMismatchError(f"the columns of private rows {frame!r} do not line up across the sites")
        owners[frame], rows[frame] = holders, counts
    return {f: StreamedFrame(streams, f, owners[f], rows[f], frames[f]) for f in frames}
