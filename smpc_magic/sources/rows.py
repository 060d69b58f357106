"""A site's rows read in blocks: for data too large to hold (national registries, tens of
millions of rows), so that a party's memory stays bounded whatever the row count.

``smpc_magic.rows(source)`` wraps a pandas DataFrame, a 2-d numpy array (typically memory-mapped,
``np.load(path, mmap_mode="r")``) or a parquet file (read in row batches with pyarrow). Marked
private, such a source is never shared row by row: each site reduces its own rows, block by
block, to the aggregate a statistic needs (sums, the cross products of X'X, counts), and only
that small aggregate is secret-shared. The pooled result is the same; the rows never leave.
"""

from __future__ import annotations

import mmap
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EncodingError

#: Rows per block: about 8 MB per float64 column, so even a wide frame stays well under 1 GB.
DEFAULT_BLOCK_ROWS = 1 << 20


class RowSource(ABC):
    """Rows of named columns, read ``block_rows`` at a time (public: the column names and the
    row count; secret: everything read)."""

    #: public [min, max] per column declared with ``rows(..., ranges=)`` (a study schema's
    #: ranges take their place in a session with a schema)
    ranges: dict[str, tuple[float, float]]

    def __init__(self, columns: Sequence[str], block_rows: int) -> None:
        if int(block_rows) < 1:
            raise ValueError("block_rows must be at least 1")
        self.columns = [str(c) for c in columns]
        if not self.columns:
            raise EncodingError("a row source needs at least one column")
        self.block_rows = int(block_rows)
        self.ranges = {}

    def with_ranges(self, ranges: Mapping[str, tuple[float, float]] | None) -> RowSource:
        for column, (lo, hi) in (ranges or {}).items():
            if column not in self.columns:
                raise EncodingError(f"ranges names {column!r}, which is not a column; the columns are {self.columns}")
            if not float(lo) < float(hi):
                raise EncodingError(f"the range of {column!r} needs min < max; got [{lo}, {hi}]")
            self.ranges[str(column)] = (float(lo), float(hi))
        return self

    @property
    @abstractmethod
    def n_rows(self) -> int:
        """How many rows the source holds (public, like any private frame's length)."""

    @abstractmethod
    def blocks(self, columns: Sequence[str] | None = None, size: int | None = None) -> Iterator[Any]:
        """The rows as pandas DataFrames of at most ``size`` (default ``block_rows``) rows, in order."""

    @abstractmethod
    def spec(self, directory: Path, name: str) -> dict[str, Any]:
        """A JSON description another local process can reopen with :func:`from_spec` (it may
        write a file into ``directory``)."""

    def head(self, rows: int = 1000) -> Any:
        """The first rows (to learn the columns' types; read at every cell, so never a whole block)."""
        for block in self.blocks(size=max(1, min(rows, self.block_rows))):
            return block
        import pandas as pd

        return pd.DataFrame({c: np.zeros(0) for c in self.columns})

    def __len__(self) -> int:
        return self.n_rows

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_rows, len(self.columns))

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.n_rows} rows x {len(self.columns)} columns {self.columns}, read in blocks>"
        )


class FrameRows(RowSource):
    """A pandas DataFrame, read in slices (for frames already in memory; their shares are not)."""

    def __init__(self, frame: Any, block_rows: int) -> None:
        super().__init__([str(c) for c in frame.columns], block_rows)
        self.frame = frame

    @property
    def n_rows(self) -> int:
        return len(self.frame)

    def blocks(self, columns: Sequence[str] | None = None, size: int | None = None) -> Iterator[Any]:
        step = size or self.block_rows
        by_name = {str(c): c for c in self.frame.columns}  # the user's frame is never changed
        wanted = [by_name[c] for c in (self.columns if columns is None else columns)]
        for start in range(0, len(self.frame), step):
            block = self.frame.iloc[start : start + step][wanted]
            block.columns = [str(c) for c in wanted]
            yield block

    def spec(self, directory: Path, name: str) -> dict[str, Any]:
        path = directory / f"rows-{name}.npz"
        np.savez(path, **{str(c): self.frame[c].to_numpy() for c in self.frame.columns})  # type: ignore[arg-type]
        return {
            "kind": "frame",
            "path": str(path),
            "columns": self.columns,
            "block_rows": self.block_rows,
            "ranges": self.ranges,
        }


class ArrayRows(RowSource):
    """A 2-d numpy array with column names; a memory-mapped one is read block by block and each
    block's pages are handed back to the operating system, so resident memory stays one block."""

    def __init__(self, array: np.ndarray, columns: Sequence[str], block_rows: int) -> None:
        if array.ndim != 2:
            raise EncodingError(f"rows(array) needs a 2-d array (rows x columns); got {array.ndim} dimensions")
        if len(columns) != array.shape[1]:
            raise EncodingError(
                f"rows(array, columns=...) names {len(columns)} columns; the array has {array.shape[1]}"
            )
        super().__init__(columns, block_rows)
        self.array = array

    @property
    def n_rows(self) -> int:
        return int(self.array.shape[0])

    def blocks(self, columns: Sequence[str] | None = None, size: int | None = None) -> Iterator[Any]:
        import pandas as pd

        step = size or self.block_rows
        wanted = self.columns if columns is None else list(columns)
        index = [self.columns.index(c) for c in wanted]
        for start in range(0, self.n_rows, step):
            stop = min(start + step, self.n_rows)
            block = np.array(self.array[start:stop])  # a copy: the mapped pages can go
            _release_pages(self.array, start, stop)
            yield pd.DataFrame({c: block[:, j] for c, j in zip(wanted, index)})

    def spec(self, directory: Path, name: str) -> dict[str, Any]:
        filename = getattr(self.array, "filename", None)
        if isinstance(self.array, np.memmap) and filename and self.array.flags.c_contiguous:
            path = str(filename)
        else:
            path = str(directory / f"rows-{name}.npy")
            np.save(path, self.array)
        return {
            "kind": "npy",
            "path": path,
            "columns": self.columns,
            "block_rows": self.block_rows,
            "ranges": self.ranges,
        }


def _release_pages(array: np.ndarray, start: int, stop: int) -> None:
    """Tell the kernel the mapped pages of rows [start, stop) are not needed again (they are
    file-backed and read-only here, so this only frees resident memory)."""
    base = getattr(array, "_mmap", None)
    if base is None or not hasattr(base, "madvise") or not array.flags.c_contiguous:
        return
    row_bytes = array.strides[0]
    offset = int(getattr(array, "offset", 0))
    first = offset + start * row_bytes
    last = offset + stop * row_bytes
    page = mmap.PAGESIZE
    first_page = (first // page) * page
    if last > first_page:
        try:
            base.madvise(mmap.MADV_DONTNEED, first_page, min(last, len(base)) - first_page)
        except (OSError, ValueError):  # advice only: nothing is wrong if the kernel declines
            pass


class ParquetRows(RowSource):
    """A parquet file read in row batches with pyarrow (``pip install pyarrow``)."""

    def __init__(self, path: str | os.PathLike[str], block_rows: int, columns: Sequence[str] | None = None) -> None:
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise EncodingError(
                "reading a parquet file needs pyarrow: `pip install pyarrow` (or `pip install 'smpc_magic[parquet]'`)"
            ) from None
        self.path = str(path)
        self._file = pq.ParquetFile(self.path)
        names = list(self._file.schema_arrow.names)
        if columns is not None:
            missing = [c for c in columns if c not in names]
            if missing:
                raise EncodingError(f"{self.path} has no column {missing[0]!r}; its columns are {names}")
            names = list(columns)
        super().__init__(names, block_rows)

    @property
    def n_rows(self) -> int:
        return int(self._file.metadata.num_rows)

    def blocks(self, columns: Sequence[str] | None = None, size: int | None = None) -> Iterator[Any]:
        wanted = self.columns if columns is None else list(columns)
        for batch in self._file.iter_batches(batch_size=size or self.block_rows, columns=wanted):
            yield batch.to_pandas()

    def spec(self, directory: Path, name: str) -> dict[str, Any]:
        return {
            "kind": "parquet",
            "path": self.path,
            "columns": self.columns,
            "block_rows": self.block_rows,
            "ranges": self.ranges,
        }

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "columns": self.columns, "block_rows": self.block_rows, "ranges": self.ranges}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["block_rows"], state["columns"])  # type: ignore[misc]


def rows(
    source: Any,
    columns: Sequence[str] | None = None,
    *,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    block_rows: int = DEFAULT_BLOCK_ROWS,
) -> RowSource:
    """This site's rows, to be read in blocks of ``block_rows`` when a cell needs them.

    ``source``: a pandas DataFrame, a 2-d numpy array (memory-mapped for data larger than
    memory; ``columns`` then names its columns), or the path of a parquet file (``columns``
    picks some of its columns). Mark the result private like any frame; cells can then take
    aggregates of it (sums, means, variances, covariances, crosstabs, OLS) but not its rows.
    ``ranges``: the public ``{column: (min, max)}`` of numeric columns in a session without a
    study schema (checked block by block as the rows are read; 0/1 columns need none)."""
    return _opened(source, columns, block_rows).with_ranges(ranges)


def _opened(source: Any, columns: Sequence[str] | None, block_rows: int) -> RowSource:
    if isinstance(source, RowSource):
        return source
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if path.suffix == ".npy":
            if columns is None:
                raise EncodingError(f"rows({str(path)!r}) needs columns=[...] to name the array's columns")
            return ArrayRows(np.load(path, mmap_mode="r"), columns, block_rows)
        return ParquetRows(path, block_rows, columns)
    if type(source).__name__ == "DataFrame" and hasattr(source, "columns"):
        return FrameRows(source if columns is None else source[list(columns)], block_rows)
    if isinstance(source, np.ndarray):
        if columns is None:
            raise EncodingError("rows(array) needs columns=[...] to name the array's columns")
        return ArrayRows(source, columns, block_rows)
    raise EncodingError(
        f"rows() takes a pandas DataFrame, a 2-d numpy array or a parquet file's path; got {type(source).__name__}"
    )


def from_spec(spec: dict[str, Any]) -> RowSource:
    """Reopen a source another local process described with :meth:`RowSource.spec`."""
    kind, block_rows, columns = spec["kind"], int(spec["block_rows"]), list(spec["columns"])
    ranges = {c: (float(lo), float(hi)) for c, (lo, hi) in spec.get("ranges", {}).items()}
    source: RowSource
    if kind == "parquet":
        source = ParquetRows(spec["path"], block_rows, columns)
    elif kind == "npy":
        source = ArrayRows(np.load(spec["path"], mmap_mode="r"), columns, block_rows)
    elif kind == "frame":
        import pandas as pd

        with np.load(spec["path"], allow_pickle=False) as data:
            source = FrameRows(pd.DataFrame({c: data[c] for c in columns}), block_rows)
    else:
        raise ValueError(f"unknown row source kind {kind!r}")
    return source.with_ranges(ranges)
