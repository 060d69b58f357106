"""Private frames read in row blocks (``smpc_magic.rows``): aggregates without shared rows.

A site's rows in such a frame are never shared. When a statistic needs an aggregate (column
sums, the normalised first and second moments behind every regression, the counts of a
crosstab), each site that holds rows reduces them block by block in plain numpy, on its own
data, and secret-shares only the result; the parties add the shares. Input sharing by seeds
costs no round, so an aggregate costs one pass over the local rows and no communication, and a
party's memory holds one block whatever the row count. The pooled aggregate equals the one
computed from shared rows; it stays secret like any other intermediate value.

Row-level operations (``x * 2``, comparisons, indexing, logistic regression) need shared rows
and raise :class:`~smpc_magic.errors.StreamedRowsError` naming what is available.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import OverflowRiskError, SchemaError, StreamedRowsError
from ..protocols.base import Array, InputSharing
from ..protocols.context import ProtocolContext
from .array import SecretArray
from .bounds import Bound
from .frames import LEVEL_SEPARATOR, OBSERVED_SUFFIX, levels_in
from .provenance import Provenance

#: At a site that holds rows: the encoded-ready values of some columns (after the study
#: schema's transformations), one dict of float64 or int64 arrays per block, checked.
BlockReader = Callable[[Sequence[str]], Iterator[dict[str, Array]]]

#: In :meth:`StreamedFrame.counts`, a column of ones (for the totals of a single 0/1 column).
ONES = ""


@dataclass
class StreamSet:
    """The streamed frames of one computation: the input sharing they use for their aggregates
    (every party allocates the same indices in the same order) and this site's block readers."""

    ctx: ProtocolContext
    sharing: InputSharing
    next_index: int
    readers: Mapping[str, BlockReader]
    cache: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    def allocate(self) -> int:
        self.next_index += 1
        return self.next_index - 1

    def each(self, owners: Sequence[int], shape: tuple[int, ...], local: Callable[[], Array]) -> list[Array]:
        """Shares of each owner's encoded ``local()`` value, in owner order (no round: seeds)."""
        out = []
        for owner in owners:
            mine = local() if owner == self.ctx.party else None
            out.append(self.sharing.share(self.allocate(), owner, shape, mine))
        return out

    def pooled(self, owners: Sequence[int], shape: tuple[int, ...], local: Callable[[], Array]) -> Array:
        """Shares of the sum over ``owners`` of each owner's encoded ``local()`` value."""
        parts = self.each(owners, shape, local)
        total = parts[0]
        for part in parts[1:]:
            total = self.ctx.suite.add(total, part)
        return total


@dataclass(frozen=True, eq=False)
class StreamedColumn:
    """One column of a streamed frame: public name, row count, declared range and scale."""

    frame: StreamedFrame
    name: str
    scale: int
    _bound: Bound

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.frame.n_rows,)

    @property
    def _ctx(self) -> ProtocolContext:  # for working_precision, like a secret array's
        return self.frame._streams.ctx

    @property
    def ndim(self) -> int:
        return 1

    def __len__(self) -> int:
        return self.frame.n_rows

    def sum(self, axis: Any = None) -> SecretArray:
        total: SecretArray = self.frame.sums([self.name])
        return total.reshape(())

    def mean(self, axis: Any = None) -> SecretArray:
        means: SecretArray = self.sum() / self.frame.n_rows
        return means

    def __repr__(self) -> str:
        return f"<streamed column {self.frame.name}[{self.name!r}]: {self.frame.n_rows} rows read in blocks>"

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise StreamedRowsError.about(self.frame.name)

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _refuse
    __pow__ = __neg__ = __abs__ = __matmul__ = __rmatmul__ = __getitem__ = __iter__ = _refuse
    __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __ne__ = _refuse
    __bool__ = __array__ = __array_ufunc__ = __array_function__ = __float__ = __int__ = _refuse
    astype = reshape = clip = max = min = argmax = argmin = var = std = _refuse
    __hash__ = object.__hash__


class StreamedFrame:
    """A private frame whose rows stay at their sites, read in blocks: public column names and
    row counts; aggregates on demand (see the module docstring)."""

    def __init__(
        self,
        streams: StreamSet,
        name: str,
        owners: Sequence[int],
        rows: Sequence[int],
        columns: Mapping[str, tuple[int, tuple[float, float]]],
    ) -> None:
        self._streams, self.name = streams, name
        self._owners, self._rows = list(owners), [int(r) for r in rows]
        self._columns = {
            c: StreamedColumn(self, c, scale, Bound.of(lo, hi, 1)) for c, (scale, (lo, hi)) in columns.items()
        }

    # ----- public facts -------------------------------------------------------------------------
    @property
    def n_rows(self) -> int:
        return sum(self._rows)

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_rows, len(self._columns))

    def __len__(self) -> int:
        return self.n_rows

    def __contains__(self, key: object) -> bool:
        return key in self._columns

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            if key not in self._columns:
                raise KeyError(f"no column {key!r}; columns are {self.columns}")
            return self._columns[key]
        if isinstance(key, list) and all(isinstance(k, str) for k in key):
            for k in key:
                self[k]
            return _Selection(self, key)
        raise StreamedRowsError.about(self.name)

    def __getattr__(self, name: str) -> Any:
        columns = self.__dict__.get("_columns", {})
        if name in columns:
            return columns[name]
        raise AttributeError(name)

    def levels(self, variable: str) -> list[str]:
        return levels_in(self.columns, variable)

    def categorical(self, variable: str) -> _Selection:
        """A categorical variable's 0/1 level columns (for crosstabs), named by level."""
        levels = self.levels(variable)
        return _Selection(self, [f"{variable}{LEVEL_SEPARATOR}{level}" for level in levels], levels)

    def observed(self, variable: str) -> StreamedColumn:
        return self._columns[f"{variable}{OBSERVED_SUFFIX}"]

    def sum(self, axis: Any = 0) -> SecretArray:
        return _Selection(self, self.columns).sum()

    def mean(self, axis: Any = 0) -> SecretArray:
        return _Selection(self, self.columns).mean()

    def __repr__(self) -> str:
        return (
            f"<streamed frame {self.name}: {self.n_rows} rows x {len(self._columns)} columns {self.columns}, "
            "read in blocks at each site; aggregates only>"
        )

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise StreamedRowsError.about(self.name)

    __add__ = __sub__ = __mul__ = __truediv__ = __iter__ = __bool__ = __array__ = to_numpy = _refuse
    __array_ufunc__ = __array_function__ = _refuse

    # ----- aggregates (used by smpc.stats) ------------------------------------------------------
    def _aggregate(self, shape: tuple[int, ...]) -> Provenance:
        """An aggregate of every pooled row of this frame's sites (each site reduced its own rows);
        aggregates computed at different steps are different values."""
        return Provenance.aggregate(self._owners, self.n_rows, shape, salt=self._streams.ctx.step)

    def _local(self, keys: Sequence[str]) -> Iterator[dict[str, Array]]:
        return self._streams.readers[self.name](list(keys))

    def moments(self, keys: Sequence[str], centres: Sequence[float], exponents: Sequence[int], bits: int) -> Any:
        """(m, s): secret means and mean cross products of z_j = (x_j - centre_j) / 2**exponent_j
        over the pooled rows (|z| <= 1 by the declared ranges), at ``bits`` fractional bits."""
        key = ("moments", tuple(keys), tuple(centres), tuple(exponents), bits)
        if key in self._streams.cache:
            return self._streams.cache[key]
        n, k = self.n_rows, len(keys)
        centre = np.asarray(centres, dtype=np.float64)
        inverse = np.power(2.0, -np.asarray(exponents, dtype=np.float64))
        codec = self._streams.ctx.suite.codec

        def local() -> Array:
            first, second = np.zeros(k), np.zeros((k, k))
            for block in self._local(keys):
                z = (np.column_stack([block[c] for c in keys]).astype(np.float64) - centre) * inverse
                first += z.sum(axis=0)
                second += z.T @ z
            flat = np.concatenate([first, second.reshape(-1)]) / n
            return codec.encode_public(np.clip(flat, -1.0, 1.0), bits)

        both = self._streams.pooled(self._owners, (k + k * k,), local)
        whole = SecretArray(self._streams.ctx, both, bits, Bound.of(-1.0, 1.0, 1), prov=self._aggregate(np.shape(both)))
        result = (whole[:k], whole[k:].reshape(k, k))
        self._streams.cache[key] = result
        return result

    def counts(self, left: Sequence[str], right: Sequence[str]) -> SecretArray:
        """Secret counts of rows with left column i and right column j both 1 (0/1 columns)."""
        codec = self._streams.ctx.suite.codec
        keys = [k for k in dict.fromkeys([*left, *right]) if k != ONES]
        for c in keys:
            lo, hi = self._columns[c]._bound.lo.item(), self._columns[c]._bound.hi.item()
            if lo < 0 or hi > 1:
                raise StreamedRowsError.about(self.name, f"crosstab counts need 0/1 level columns; {c!r} is not one")

        def local() -> Array:
            total = np.zeros((len(left), len(right)), dtype=np.int64)
            for block in self._local(keys or self.columns[:1]):
                size = len(next(iter(block.values())))
                for c in keys:
                    values = np.asarray(block[c], dtype=np.float64)
                    if not np.all((values == 0) | (values == 1)):
                        raise SchemaError(  # a count of fractions would be silently wrong
                            f"column {c!r} of private rows {self.name!r} holds values other than 0 and 1 at this "
                            "site, so it cannot be counted; give a 0/1 (or boolean) column"
                        )
                a = np.column_stack([block[c] if c != ONES else np.ones(size) for c in left]).astype(np.float64)
                b = np.column_stack([block[c] if c != ONES else np.ones(size) for c in right]).astype(np.float64)
                total += np.rint(a.T @ b).astype(np.int64)  # exact: each block's counts < 2**53
            return codec.encode_public(total, 0)

        share = self._streams.pooled(self._owners, (len(left), len(right)), local)
        return SecretArray(
            self._streams.ctx, share, 0, Bound.of(0.0, float(self.n_rows), 2), prov=self._aggregate(np.shape(share))
        )

    def sums(self, keys: Sequence[str]) -> SecretArray:
        """Exact secret column sums, at the finest scale of the columns."""
        codec = self._streams.ctx.suite.codec
        scale = max(self._columns[c].scale for c in keys)
        lo = np.array([self._columns[c]._bound.lo.item() for c in keys]) * self.n_rows
        hi = np.array([self._columns[c]._bound.hi.item() for c in keys]) * self.n_rows
        if max(np.abs(lo).max(), np.abs(hi).max()) * 2.0**scale >= codec.max_magnitude(0):
            raise OverflowRiskError(
                f"the sum of {self.name}{keys} over {self.n_rows} rows could exceed what the ring holds at its declared "
                "ranges; take smpc.stats.mean instead (it works with normalised values), or narrow the ranges",
                operation="sum of a streamed frame",
            )

        def local() -> Array:
            totals = [0] * len(keys)
            for block in self._local(keys):
                for j, c in enumerate(keys):
                    encoded = np.rint(np.asarray(block[c], dtype=np.float64) * 2.0**scale).astype(np.int64)
                    totals[j] += int(encoded.sum())  # a block's sum fits int64; the total is a Python int
            return codec.encode_public(np.array(totals, dtype=np.int64), 0)

        share = self._streams.pooled(self._owners, (len(keys),), local)
        return SecretArray(self._streams.ctx, share, scale, Bound.of(lo, hi, 1), prov=self._aggregate(np.shape(share)))


def extremes(frame: StreamedFrame, keys: Sequence[str]) -> SecretArray:
    """Secret (owners, 2, k): each site's smallest and largest value of each column (its own
    rows, one pass), at the columns' finest scale; the pooled ones are a comparison tree away."""
    codec = frame._streams.ctx.suite.codec
    scale = max(frame[c].scale for c in keys)
    lo = np.array([frame[c]._bound.lo.item() for c in keys])
    hi = np.array([frame[c]._bound.hi.item() for c in keys])

    def local() -> Array:
        low, high = np.full(len(keys), np.inf), np.full(len(keys), -np.inf)
        for block in frame._local(keys):
            for j, c in enumerate(keys):
                values = np.asarray(block[c], dtype=np.float64)
                if values.size:
                    low[j], high[j] = min(low[j], values.min()), max(high[j], values.max())
        return codec.encode_public(np.stack([low, high]), scale)

    parts = frame._streams.each(frame._owners, (2, len(keys)), local)
    bound = Bound.of(np.broadcast_to(lo, (1, 1, len(keys))), np.broadcast_to(hi, (1, 1, len(keys))), 3)
    # one site's extreme value: one row's value of that site (row-level, one site)
    prov = Provenance.rows(np.asarray(frame._owners), 3).point()
    return SecretArray(frame._streams.ctx, np.stack(parts), scale, bound, prov=prov)


class _Selection:
    """Some columns of a streamed frame (``frame[["a", "b"]]``, ``frame.categorical("v")``)."""

    def __init__(self, frame: StreamedFrame, keys: Sequence[str], names: Sequence[str] | None = None) -> None:
        self.frame, self.keys = frame, list(keys)
        self.names = list(names) if names is not None else list(keys)

    @property
    def columns(self) -> list[str]:
        return list(self.names)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.frame.n_rows, len(self.keys))

    def __len__(self) -> int:
        return self.frame.n_rows

    def column_objects(self) -> list[StreamedColumn]:
        return [self.frame[k] for k in self.keys]

    def sum(self, axis: Any = 0) -> SecretArray:
        if axis not in (0, None) or (axis is None and len(self.keys) > 1):
            raise StreamedRowsError.about(self.frame.name, "sums of a streamed frame run down its rows (axis=0)")
        return self.frame.sums(self.keys)

    def mean(self, axis: Any = 0) -> SecretArray:
        means: SecretArray = self.sum(axis) / self.frame.n_rows
        return means

    def __repr__(self) -> str:
        return f"<streamed columns {self.names} of {self.frame.name}: {self.frame.n_rows} rows read in blocks>"

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise StreamedRowsError.about(self.frame.name)

    __add__ = __sub__ = __mul__ = __truediv__ = __iter__ = __bool__ = __array__ = to_numpy = _refuse
    __array_ufunc__ = __array_function__ = __getitem__ = _refuse


def streamed_parts(x: Any) -> tuple[StreamedFrame, list[StreamedColumn], list[str]] | None:
    """The frame, columns and names of a streamed frame, selection or column; None otherwise."""
    if isinstance(x, StreamedFrame):
        x = _Selection(x, x.columns)
    if isinstance(x, StreamedColumn):
        return x.frame, [x], [x.name]
    if isinstance(x, _Selection):
        return x.frame, x.column_objects(), x.columns
    return None


#: What a cell may hold of rows read in blocks (for the cell boundary's attribute rules).
STREAMED_TYPES = (StreamedFrame, StreamedColumn, _Selection)

__all__ = [
    "STREAMED_TYPES",
    "extremes",
    "ONES",
    "BlockReader",
    "StreamSet",
    "StreamedColumn",
    "StreamedFrame",
    "streamed_parts",
]
