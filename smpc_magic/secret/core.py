"""The core of a secret array: shares, fixed-point bookkeeping, and the operations that need
only the suite's linear operations, products and truncation.

Shapes are public; values are not. Each array carries a ``scale``: 0 for exact integers,
``frac_bits`` for fixed-point numbers. Integer x integer stays exact; a product of two
fixed-point values is truncated back to ``frac_bits`` with an error below 1 unit in the last
place (2**-frac_bits). Comparisons, division by secrets and numpy dispatch are added by
:class:`smpc_magic.secret.array.SecretArray`, the class users see.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterator
from typing import Any, TypeVar, cast

import numpy as np

from ..errors import MissingValuesError, SecretValueError
from ..protocols.base import Array
from ..protocols.context import ProtocolContext
from . import scaling
from .bounds import Bound
from .plaintext import SECRET_HINT, RefusesPlaintext
from .products import _multiply, _public_product, _square_bound, align, integral_dtype, public_exponent
from .provenance import Provenance, in_statistic

__all__ = ["SECRET_HINT", "SecretCore", "align", "as_secret", "integral_dtype", "public_exponent", "reveal"]


S = TypeVar("S", bound="SecretCore")


class SecretCore(RefusesPlaintext):
    """An array whose values are secret-shared; ``repr`` shows kind, shape and party count only."""

    __array_priority__ = 1000

    def __init__(
        self,
        ctx: ProtocolContext,
        share: Array,
        scale: int,
        bound: Bound | None = None,
        *,
        transpose_of: SecretCore | None = None,
        prov: Provenance | None = None,
    ):
        self._ctx = ctx
        self._share: Array = np.asarray(share, dtype=ctx.suite.codec.dtype)
        self._scale = int(scale)
        self._transpose_of = transpose_of
        if bound is None:  # nothing known: anything the encoding admits
            bound = Bound.symmetric(2.0 ** (ctx.suite.codec.limit_bits - self._scale), self._share.ndim)
        self._bound = bound
        #: what it is derived from (engine-side; release rules follow from it). Unknown: fails closed
        self._prov = prov.fitted(self._share.shape) if prov is not None else Provenance.unknown(self._share.ndim)
        if os.environ.get("SMPC_DEBUG_PROVENANCE") and self._prov.ndim != self._share.ndim:
            raise AssertionError(f"provenance of {self._prov.ndim} dimensions for a secret of shape {self.shape}")
        #: an unmodified result of smpc.stats (set by smpc_magic.stats.disclosure.declare)
        self._statistic = False

    # ----- public facts -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._share.shape)

    @property
    def ndim(self) -> int:
        return int(self._share.ndim)

    @property
    def size(self) -> int:
        return int(self._share.size)

    @property
    def bound(self) -> tuple[Array, Array]:
        """The public interval (lo, hi) each value is known to lie in, as numpy arrays
        broadcastable to the shape: from the declared ranges and the operations so far."""
        return self._bound.lo.copy(), self._bound.hi.copy()

    @property
    def is_integer(self) -> bool:
        """True when the values are exact integers (scale 0)."""
        return self._scale == 0

    @property
    def kind(self) -> str:
        return "integer" if self._scale == 0 else f"fixed-point ({self._scale} fractional bits)"

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d secret")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"<SecretArray {self.kind}, shape={self.shape}, shared among {self._ctx.n_parties} parties>"

    def __hash__(self) -> int:
        return id(self)

    # ----- construction helpers -----------------------------------------------------------------
    def _new(self: S, share: Array, scale: int | None = None, *, bound: Bound, prov: Provenance | None = None) -> S:
        """A secret derived from this one: its provenance is this one's unless ``prov`` says
        otherwise (an elementwise function of this value alone keeps it)."""
        if prov is None:
            prov = self._prov if np.ndim(share) == self._share.ndim else Provenance.unknown(np.ndim(share))
        return type(self)(self._ctx, share, self._scale if scale is None else scale, bound, prov=prov)

    def _limit_bits(self) -> int:
        return self._ctx.suite.codec.limit_bits

    def _with_bound(self: S, bound: Bound) -> S:
        """The same secret with a tighter bound a function proved (intersected with this one)."""
        tighter = Bound(np.maximum(self._bound.lo, bound.lo), np.minimum(self._bound.hi, bound.hi), self._bound.err)
        return type(self)(self._ctx, self._share, self._scale, tighter, prov=self._prov)

    def _at_scale(self, scale: int, operation: str = "changing the number of fractional bits") -> Array:
        """This party's share at a larger scale (exact: multiply by a public power of two)."""
        if scale == self._scale:
            return self._share
        scaling.require_fit(operation, self._bound, scale, self._limit_bits())
        suite = self._ctx.suite
        return suite.mul_public(self._share, suite.codec.encode_public(np.asarray(1 << (scale - self._scale)), 0))

    def _truncated(self: S, bits: int) -> S:
        """The value with ``bits`` fewer fractional bits (one truncation round)."""
        if bits <= 0:
            return self
        share = self._ctx.suite.div_public(self._ctx, self._share, 1 << bits)
        scale = self._scale - bits
        return self._new(share, scale, bound=self._bound.widen(2.0**-scale))

    # ----- shape manipulation (local, free) -------------------------------------------------------
    @property
    def T(self: S) -> S:
        return type(self)(
            self._ctx,
            self._share.T,
            self._scale,
            self._bound.transpose(),
            transpose_of=self,
            prov=self._prov.transpose(),
        )

    def transpose(self: S, *axes: Any) -> S:
        if not axes or axes == (None,):
            return self.T
        if len(axes) == 1 and isinstance(axes[0], tuple | list):
            axes = tuple(axes[0])
        return self._new(
            self._share.transpose(*axes), bound=self._bound.transpose(axes), prov=self._prov.transpose(axes)
        )

    def reshape(self: S, *shape: Any, order: Any = "C") -> S:
        share = self._share.reshape(*shape, order=order)
        return self._new(
            share, bound=self._bound.reshape(self.shape, share.shape), prov=self._prov.reshape(self.shape, share.shape)
        )

    def ravel(self: S) -> S:
        return self.reshape(-1)

    flatten = ravel

    def squeeze(self: S, axis: Any = None) -> S:
        return self._new(
            self._share.squeeze(axis),
            bound=self._bound.squeeze(self.shape, axis),
            prov=self._prov.squeeze(self.shape, axis),
        )

    def copy(self: S) -> S:
        return self._new(self._share.copy(), bound=self._bound)

    def __getitem__(self: S, index: Any) -> S:
        if isinstance(index, SecretCore) and _is_row_filter(self, index):
            return filtered(self, index)
        _check_public_index(index)
        return self._new(
            self._share[index], bound=self._bound.index(self.shape, index), prov=self._prov.index(self.shape, index)
        )

    def __setitem__(self, index: Any, value: Any) -> None:
        _check_public_index(index)
        if self._statistic:
            raise SecretValueError(
                "a result of smpc.stats cannot be changed in place; compute a new array instead (e.g. y = m * 1)"
            )
        if self.__dict__.get("_frozen"):
            raise SecretValueError(
                "a variable's :observed column is the engine's record of which rows are present; it cannot be "
                "changed in place (statistics leave the missing rows out; compute a new array for anything else)"
            )
        mine, other = align([self, as_secret(self, value)], "assigning into a secret array")
        share = mine._share.copy()
        share[index] = other._share
        self._share, self._scale = share, mine._scale
        self._bound = mine._bound.assign(self.shape, index, other._bound)
        self._prov = self._prov.assign(self.shape, index, other._prov)

    def __iter__(self: S) -> Iterator[S]:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d secret")
        for i in range(self.shape[0]):
            yield self[i]

    # ----- arithmetic ---------------------------------------------------------------------------
    def __neg__(self: S) -> S:
        return self._new(self._ctx.suite.neg(self._share), bound=-self._bound, prov=self._prov.mapped("neg"))

    def __pos__(self: S) -> S:
        return self

    def __add__(self: S, other: Any) -> S:
        suite = self._ctx.suite
        if isinstance(other, SecretCore):
            a, b = align([self, cast(S, other)], "adding secrets", self._bound + other._bound)
            prov = self._prov.plus(other._prov)
            return a._new(suite.add(a._share, b._share), a._scale, bound=a._bound + b._bound, prov=prov)
        plain = public_array(other)
        if plain is None:
            return NotImplemented
        return self._add_public(plain)

    __radd__ = __add__

    def _add_public(self: S, plain: Array) -> S:
        suite, limit = self._ctx.suite, self._limit_bits()
        scale = self._scale if integral_dtype(plain) else max(self._scale, self._ctx.frac_bits)
        public = Bound.of_values(plain).widen(2.0**-scale)
        drop = max(scaling.bits_to_drop(b, scale, limit) for b in (self._bound, public, self._bound + public))
        if drop > scale:
            raise scaling.overflow("adding a public value", self._bound + public, scale, limit)
        x = self._truncated(self._scale - (scale - drop))
        scale -= drop
        encoded = suite.codec.encode_public(plain, scale)
        total = x._bound + Bound.of_values(suite.codec.decode(encoded, scale))
        prov = self._prov.mapped("add", suite.codec.decode(encoded, scale), offset=True)
        return x._new(suite.add_public(self._ctx, x._at_scale(scale), encoded), scale, bound=total, prov=prov)

    def __sub__(self: S, other: Any) -> S:
        if isinstance(other, SecretCore):
            return self + (-other)
        plain = public_array(other)
        if plain is None:
            return NotImplemented
        return self + (-plain)

    def __rsub__(self: S, other: Any) -> S:
        return (-self).__add__(other)

    def __mul__(self: S, other: Any) -> S:
        if isinstance(other, SecretCore):
            prov = self._prov.times(other._prov)
            if other is self:
                return self._product(self, "squaring a secret", _square_bound, _multiply, prov=prov)
            return self._product(other, "multiplying secrets", lambda a, b: a._bound * b._bound, _multiply, prov=prov)
        plain = public_array(other)
        if plain is None:
            return NotImplemented
        return self._mul_public(plain)

    __rmul__ = __mul__

    def _div_by_public(self: S, plain: Array) -> S:
        if plain.size and np.any(plain == 0):
            raise ZeroDivisionError("division of a secret by a public zero")
        if plain.ndim == 0 and is_whole(plain) and abs(float(plain)) <= 2.0**40:
            divisor = int(plain)
            # as many fractional bits as the session's, or as fit
            scale = max(self._scale, self._ctx.frac_bits)
            scale -= scaling.bits_to_drop(self._bound, scale, self._limit_bits())
            x = self._truncated(self._scale - scale) if scale < self._scale else self
            fixed = x._at_scale(scale, "dividing by a public number")
            suite = self._ctx.suite
            quotient = suite.div_public(self._ctx, fixed if divisor > 0 else suite.neg(fixed), abs(divisor))
            bound = x._bound.times_public(np.asarray(1.0 / divisor)).widen(2 * 2.0**-scale)
            return self._new(quotient, scale, bound=bound, prov=self._prov.mapped(f"div:{divisor}"))
        return self._mul_public(1.0 / plain.astype(np.float64), force_fixed=True)

    def __matmul__(self: S, other: Any) -> S:
        if isinstance(other, SecretCore):
            if self._transpose_of is other and other.ndim == 2:
                return cast(S, other._gram())
            return self._product(
                other,
                "a matrix product of secrets",
                lambda a, b: a._bound.matmul(b._bound, a.shape, b.shape),
                lambda ctx, a, b: ctx.suite.matmul(ctx, a, b),
                prov=self._prov.matmul(other._prov, self.shape, other.shape, salt=self._ctx.next_serial()),
            )
        plain = public_array(other)
        if plain is None:
            return NotImplemented
        return self._matmul_public(plain, left=False)

    def __rmatmul__(self: S, other: Any) -> S:
        plain = public_array(other)
        if plain is None:
            return NotImplemented
        return self._matmul_public(plain, left=True)

    def __pow__(self: S, exponent: Any) -> S:
        if isinstance(exponent, numbers.Integral) and int(exponent) >= 1:
            result = self
            for _ in range(int(exponent) - 1):
                result = result * self
            return result
        raise SecretValueError("secret ** n is available for whole n >= 1 only.")

    # ----- reductions ---------------------------------------------------------------------------
    def sum(self: S, axis: Any = None, keepdims: bool = False) -> S:
        bound = self._bound.sum(self.shape, axis, keepdims)
        drop = scaling.bits_to_drop(bound, self._scale, self._limit_bits())
        x = self
        if drop:
            if drop > self._scale:
                raise scaling.overflow(f"a sum of {self.size} values", bound, self._scale, self._limit_bits())
            x = self._truncated(drop)
            bound = x._bound.sum(self.shape, axis, keepdims)
        prov = self._prov.reduce(self.shape, axis, keepdims, salt=self._ctx.next_serial())
        return x._new(self._ctx.suite.sum(x._share, axis=axis, keepdims=keepdims), bound=bound, prov=prov)

    def mean(self: S, axis: Any = None, keepdims: bool = False) -> S:
        count = self.size if axis is None else int(np.prod([self.shape[a] for a in np.atleast_1d(axis)]))
        if count == 0:
            raise ValueError("mean of an empty secret array")
        if self._prov.observed and not in_statistic():
            raise MissingValuesError(
                "this value is derived from a variable that may be missing (shared as 0 where it is), so .mean() "
                "would count the missing rows as 0. Use smpc.stats.mean(x), which leaves them out (or divide the "
                "sum by the count observed: x.sum() / cohort.observed('bmi').sum())"
            )
        return self.sum(axis=axis, keepdims=keepdims)._div_by_public(np.asarray(count))

    def dot(self: S, other: Any) -> S:
        return self.__matmul__(other)

    # ----- products -----------------------------------------------------------------------------
    def _product(
        self: S,
        other: SecretCore,
        operation: str,
        bound_of: Any,
        multiply: Any,
        exact_right: bool = False,
        *,
        prov: Provenance | None = None,
    ) -> S:
        """A product of two secrets: dropping fractional bits first if the exact product could
        break the limit before its truncation, then one truncation back to frac_bits.
        ``exact_right``: ``other`` must keep all its bits (a power-of-two weight would become 0)."""
        a, b = self, other
        bound = bound_of(a, b)
        drop = scaling.bits_to_drop(bound, a._scale + b._scale, self._limit_bits())
        if drop:
            magnitudes = (a._bound.magnitude(), b._bound.magnitude())
            split = scaling.split_drop(drop, (a._scale, 0 if exact_right else b._scale), magnitudes)
            if split is None:
                raise scaling.overflow(operation, bound, a._scale + b._scale, self._limit_bits())
            a, b = a._truncated(split[0]), b._truncated(split[1])
            bound = bound_of(a, b)
        prov = prov if prov is not None else self._prov.times(other._prov)
        return a._renormalise(multiply(self._ctx, a._share, b._share), a._scale + b._scale, bound, prov)

    def _gram(self: S) -> S:
        """X.T @ X, opening X once; X gives up fractional bits first if the sum could overflow."""
        bound = self._bound.transpose().matmul(self._bound, self.shape[::-1], self.shape)
        drop = scaling.bits_to_drop(bound, 2 * self._scale, self._limit_bits())
        x = self
        if drop:
            if -(-drop // 2) > self._scale:
                raise scaling.overflow("X.T @ X", bound, 2 * self._scale, self._limit_bits())
            x = self._truncated(-(-drop // 2))
            bound = x._bound.transpose().matmul(x._bound, x.shape[::-1], x.shape)
        prov = self._prov.transpose().matmul(self._prov, self.shape[::-1], self.shape, salt=self._ctx.next_serial())
        return x._renormalise(self._ctx.suite.gram(self._ctx, x._share), 2 * x._scale, bound, prov)

    def _renormalise(self: S, share: Array, scale: int, bound: Bound, prov: Provenance) -> S:
        """Bring a product back to at most frac_bits fractional bits (one truncation round)."""
        f = self._ctx.frac_bits
        scaling.require_fit("a product", bound, scale, self._limit_bits())
        if scale <= f:
            return self._new(share, scale, bound=bound, prov=prov)
        quotient = self._ctx.suite.div_public(self._ctx, share, 1 << (scale - f))
        return self._new(quotient, f, bound=bound.widen(2.0**-f), prov=prov)

    def _mul_public(self: S, plain: Array, force_fixed: bool = False) -> S:
        return _public_product(self, plain, force_fixed, "multiplying by a public value", None)

    def _matmul_public(self: S, plain: Array, left: bool) -> S:
        return _public_product(self, plain, False, "a matrix product with a public matrix", left)


# ----- helpers used by the array and by the smpc namespace -----------------------------------------
def public_array(value: object) -> Array | None:
    """A plain value as a numpy array, or None for things arithmetic does not accept."""
    if isinstance(value, SecretCore):
        return None
    if isinstance(value, numbers.Number | np.ndarray | list | tuple | np.generic):
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            return None
        return arr
    return None


def is_whole(arr: Array) -> bool:
    return integral_dtype(arr) or bool(np.all(np.mod(arr, 1) == 0))


def filtered(x: S, mask: SecretCore) -> S:
    """``x[mask]`` for a secret 0/1 ``mask`` over its rows: the rows where it is 0 are left out
    (0 here, and marked not observed, so that statistics leave them out as they do missing
    values). Which rows are kept stays secret; the shape does not change."""
    if not _is_row_filter(x, mask):
        raise SecretValueError(
            "a secret row filter is a 0/1 integer column with one entry per row, such as cohort['age'] > 65; got "
            f"one of shape {mask.shape} for rows of shape {x.shape}"
        )
    mask.__dict__["_filter"] = True
    out = x * mask.reshape((len(mask),) + (1,) * (x.ndim - 1))
    out._prov = out._prov.with_observed(mask)
    out.__dict__["_unfiltered"] = x.__dict__.get("_unfiltered", x)  # (its values on the rows kept)
    return out


def _is_row_filter(x: SecretCore, mask: SecretCore) -> bool:
    """A secret 0/1 integer vector with one entry per row of ``x``."""
    if mask.ndim != 1 or x.ndim == 0 or len(mask) != x.shape[0] or not mask.is_integer:
        return False
    return float(np.min(mask._bound.lo)) >= 0 and float(np.max(mask._bound.hi)) <= 1


def _check_public_index(index: Any) -> None:
    parts = index if isinstance(index, tuple) else (index,)
    if any(isinstance(p, SecretCore) for p in parts):
        raise SecretValueError(
            "indexing by a secret would reveal which elements are chosen. A secret 0/1 column with one entry per "
            "row filters rows (x[x > 65], frame[frame['age'] > 65]); otherwise use arithmetic masks (multiply by a "
            "0/1 secret column). " + SECRET_HINT
        )


def as_secret(ref: S, value: Any) -> S:
    """A secret version of a public value, in ``ref``'s computation (no communication)."""
    if isinstance(value, SecretCore):
        return value  # type: ignore[return-value]
    plain = public_array(value)
    if plain is None:
        raise TypeError(f"cannot combine a secret with {type(value).__name__}")
    ctx = ref._ctx
    scale = 0 if integral_dtype(plain) else ctx.frac_bits
    encoded = ctx.suite.codec.encode_public(plain, scale)
    decoded = ctx.suite.codec.decode(encoded, scale)
    prov = Provenance.constant(decoded)
    return ref._new(ctx.suite.constant(ctx, encoded), scale, bound=Bound.of_values(decoded), prov=prov)


def reveal(
    values: dict[str, SecretCore], to: list[int] | None = None, label: str = "reveal"
) -> dict[str, Array] | None:
    """Open several secrets in one round to the parties ``to`` (all by default)."""
    if not values:
        return {}
    ctx = next(iter(values.values()))._ctx
    names = list(values)
    opened = ctx.suite.open(ctx, [values[k]._share for k in names], label, to=to)
    if opened is None:
        return None
    return {k: ctx.suite.codec.decode(v, values[k]._scale) for k, v in zip(names, opened)}
