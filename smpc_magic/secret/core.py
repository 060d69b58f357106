"""The core of a secret array: shares, fixed-point bookkeeping, and the operations that need
only the suite's linear operations, products and truncation.

Shapes are public; values are not. Each array carries a ``scale``: 0 for exact integers,
``frac_bits`` for fixed-point numbers. Integer x integer stays exact; a product of two
fixed-point values is truncated back to ``frac_bits`` with an error below 1 unit in the last
place (2**-frac_bits). Comparisons, division by secrets and numpy dispatch are added by
:class:`smpc_magic.secret.array.SecretArray`, the class users see.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from typing import Any, TypeVar

import numpy as np

from ..errors import EncodingError, SecretValueError
from ..protocols.base import Array
from ..protocols.context import ProtocolContext

#: Significant bits kept when a secret is multiplied by a small public non-integer.
PUBLIC_MANTISSA_BITS = 20

SECRET_HINT = (
    "Secrets cannot be branched on, converted to plain numbers or printed inside a %%smpc cell. "
    "Compute on them with arithmetic (and smpc.where for choices), then release only the final "
    "result with --reveal NAME."
)

S = TypeVar("S", bound="SecretCore")


class SecretCore:
    """An array whose values are secret-shared; ``repr`` shows kind, shape and party count only."""

    __array_priority__ = 1000

    def __init__(self, ctx: ProtocolContext, share: Array, scale: int, *, transpose_of: SecretCore | None = None):
        self._ctx = ctx
        self._share: Array = np.asarray(share, dtype=ctx.suite.codec.dtype)
        self._scale = int(scale)
        self._transpose_of = transpose_of

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

    # ----- forbidden plaintext uses -----------------------------------------------------------
    def _refuse(self, what: str) -> Any:
        raise SecretValueError(f"{what} needs the plain value of a secret. {SECRET_HINT}")

    def __bool__(self) -> bool:
        return bool(self._refuse("'if'/'while'/'and'/'or'/bool() on a secret"))

    def __float__(self) -> float:
        return float(self._refuse("float() of a secret"))

    def __int__(self) -> int:
        return int(self._refuse("int() of a secret"))

    def __index__(self) -> int:
        return int(self._refuse("using a secret as an index"))

    def __complex__(self) -> complex:
        return complex(self._refuse("complex() of a secret"))

    def __str__(self) -> str:
        return str(self._refuse("printing a secret (print/str/f-string)"))

    def __format__(self, spec: str) -> str:
        return str(self._refuse("formatting a secret"))

    def __array__(self, dtype: Any = None, copy: Any = None) -> Array:
        return np.asarray(self._refuse("converting a secret to a numpy array"))

    def __hash__(self) -> int:
        return id(self)

    # ----- construction helpers -----------------------------------------------------------------
    def _new(self: S, share: Array, scale: int | None = None) -> S:
        return type(self)(self._ctx, share, self._scale if scale is None else scale)

    def _at_scale(self, scale: int) -> Array:
        """This party's share at a larger scale (exact: multiply by a public power of two)."""
        if scale == self._scale:
            return self._share
        suite = self._ctx.suite
        return suite.mul_public(self._share, suite.codec.encode_public(np.asarray(1 << (scale - self._scale)), 0))

    # ----- shape manipulation (local, free) -------------------------------------------------------
    @property
    def T(self: S) -> S:
        return type(self)(self._ctx, self._share.T, self._scale, transpose_of=self)

    def transpose(self: S, *axes: Any) -> S:
        if not axes or axes == (None,):
            return self.T
        return self._new(self._share.transpose(*axes))

    def reshape(self: S, *shape: Any, order: Any = "C") -> S:
        return self._new(self._share.reshape(*shape, order=order))

    def ravel(self: S) -> S:
        return self._new(self._share.ravel())

    flatten = ravel

    def squeeze(self: S, axis: Any = None) -> S:
        return self._new(self._share.squeeze(axis))

    def copy(self: S) -> S:
        return self._new(self._share.copy())

    def __getitem__(self: S, index: Any) -> S:
        _check_public_index(index)
        return self._new(self._share[index])

    def __setitem__(self, index: Any, value: Any) -> None:
        _check_public_index(index)
        other = as_secret(self, value)
        scale = max(self._scale, other._scale)
        if scale != self._scale:
            self._share = self._at_scale(scale)
            self._scale = scale
        self._share = self._share.copy()
        self._share[index] = other._at_scale(scale)

    def __iter__(self: S) -> Iterator[S]:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d secret")
        for i in range(self.shape[0]):
            yield self[i]

    # ----- arithmetic ---------------------------------------------------------------------------
    def __neg__(self: S) -> S:
        return self._new(self._ctx.suite.neg(self._share))

    def __pos__(self: S) -> S:
        return self

    def __add__(self: S, other: Any) -> S:
        suite = self._ctx.suite
        if isinstance(other, SecretCore):
            scale = max(self._scale, other._scale)
            return self._new(suite.add(self._at_scale(scale), other._at_scale(scale)), scale)
        plain = public_array(other)
        if plain is None:
            return NotImplemented
        scale = self._scale if integral_dtype(plain) else max(self._scale, self._ctx.frac_bits)
        encoded = suite.codec.encode_public(plain, scale)
        return self._new(suite.add_public(self._ctx, self._at_scale(scale), encoded), scale)

    __radd__ = __add__

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
            product = self._ctx.suite.mul(self._ctx, self._share, other._share)
            return self._renormalise(product, self._scale + other._scale)
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
            scale = max(self._scale, self._ctx.frac_bits)
            fixed = self._at_scale(scale)
            suite = self._ctx.suite
            quotient = suite.div_public(self._ctx, fixed if divisor > 0 else suite.neg(fixed), abs(divisor))
            return self._new(quotient, scale)
        return self._mul_public(1.0 / plain.astype(np.float64), force_fixed=True)

    def __matmul__(self: S, other: Any) -> S:
        if isinstance(other, SecretCore):
            if self._transpose_of is other and other.ndim == 2:
                product = self._ctx.suite.gram(self._ctx, other._share)
            else:
                product = self._ctx.suite.matmul(self._ctx, self._share, other._share)
            return self._renormalise(product, self._scale + other._scale)
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
        return self._new(self._ctx.suite.sum(self._share, axis=axis, keepdims=keepdims))

    def mean(self: S, axis: Any = None, keepdims: bool = False) -> S:
        total = self.sum(axis=axis, keepdims=keepdims)
        count = self.size if axis is None else int(np.prod([self.shape[a] for a in np.atleast_1d(axis)]))
        if count == 0:
            raise ValueError("mean of an empty secret array")
        return total._div_by_public(np.asarray(count))

    def dot(self: S, other: Any) -> S:
        return self.__matmul__(other)

    # ----- internals ----------------------------------------------------------------------------
    def _renormalise(self: S, share: Array, scale: int) -> S:
        """Bring a product back to at most frac_bits fractional bits (one truncation round)."""
        f = self._ctx.frac_bits
        if scale <= f:
            return self._new(share, scale)
        return self._new(self._ctx.suite.div_public(self._ctx, share, 1 << (scale - f)), f)

    def _public_multiplier(self, plain: Array, force_fixed: bool) -> tuple[Array, int]:
        """Encode a public multiplier: exact integers at scale 0, otherwise with enough bits."""
        codec = self._ctx.suite.codec
        if integral_dtype(plain) and not force_fixed:
            return codec.encode_public(plain, 0), 0
        values = plain.astype(np.float64)
        if not np.isfinite(values).all():
            raise EncodingError("a public multiplier or divisor is NaN or infinite")
        f = self._ctx.frac_bits
        biggest = float(np.abs(values).max()) if values.size else 0.0
        exponent = f
        if 0 < biggest < 2.0 ** (PUBLIC_MANTISSA_BITS - f):
            exponent = min(PUBLIC_MANTISSA_BITS - math.floor(math.log2(biggest)), codec.limit_bits - f)
        if biggest * 2.0**exponent >= 2.0**codec.limit_bits:
            raise EncodingError(f"a public multiplier of magnitude {biggest:.3g} is too large for fixed point")
        return codec.encode_public(values, exponent), exponent

    def _mul_public(self: S, plain: Array, force_fixed: bool = False) -> S:
        encoded, exponent = self._public_multiplier(plain, force_fixed)
        return self._rescale_down(self._ctx.suite.mul_public(self._share, encoded), self._scale + exponent)

    def _matmul_public(self: S, plain: Array, left: bool) -> S:
        encoded, exponent = self._public_multiplier(plain, False)
        share = self._ctx.suite.matmul_public(self._share, encoded, public_on_left=left)
        return self._rescale_down(share, self._scale + exponent)

    def _rescale_down(self: S, share: Array, scale: int) -> S:
        """Truncate a product with a public value to scale frac_bits (or keep an integer exact)."""
        f = self._ctx.frac_bits
        target = 0 if scale == 0 else f
        if scale <= target:
            return self._new(share, scale)
        return self._new(self._ctx.suite.div_public(self._ctx, share, 1 << (scale - target)), target)


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


def integral_dtype(arr: Array) -> bool:
    return arr.dtype.kind in "biu"


def is_whole(arr: Array) -> bool:
    return integral_dtype(arr) or bool(np.all(np.mod(arr, 1) == 0))


def _check_public_index(index: Any) -> None:
    parts = index if isinstance(index, tuple) else (index,)
    if any(isinstance(p, SecretCore) for p in parts):
        raise SecretValueError(
            "indexing by a secret would reveal which rows are chosen. Use arithmetic masks instead "
            "(multiply by a 0/1 secret column). " + SECRET_HINT
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
    return ref._new(ctx.suite.constant(ctx, encoded), scale)


def common_scale(arrays: list[SecretCore]) -> int:
    return max(a._scale for a in arrays)


def reveal(values: dict[str, SecretCore], to: list[int] | None = None) -> dict[str, Array] | None:
    """Open several secrets in one round to the parties ``to`` (all by default)."""
    if not values:
        return {}
    ctx = next(iter(values.values()))._ctx
    names = list(values)
    opened = ctx.suite.open(ctx, [values[k]._share for k in names], "reveal", to=to)
    if opened is None:
        return None
    return {k: ctx.suite.codec.decode(v, values[k]._scale) for k, v in zip(names, opened)}
