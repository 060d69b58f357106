"""``SecretArray``: a numpy-like array whose values are additively shared among the parties.

Shapes are public; values are not. Arithmetic with other secrets or with public numbers runs the
protocols in :mod:`smpc_magic.protocols.arithmetic`; numpy functions dispatch here through
``__array_ufunc__`` / ``__array_function__``. Anything that would need the plain value (``if``,
``float()``, printing) raises :class:`SecretValueError` instead.

Each array carries a ``scale``: 0 for exact integers, ``frac_bits`` for fixed-point numbers.
Integer x integer stays exact; a product of two fixed-point values is truncated back to
``frac_bits`` with an error below 1 unit in the last place (2**-frac_bits).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .errors import EncodingError, SecretValueError
from .protocols.context import ProtocolContext
from .sharing.ring import ENCODED_LIMIT, RING_DTYPE, decode, encode, ring_op

U64 = np.uint64
#: Significant bits kept when a secret is multiplied by a small public non-integer.
PUBLIC_MANTISSA_BITS = 20

_SECRET_HINT = (
    "Secrets cannot be branched on, converted to plain numbers or printed inside a %%smpc cell. "
    "Compute on them with arithmetic (and smpc.where for choices), then release only the final "
    "result with --reveal NAME."
)


class SecretArray:
    """An array whose values are secret-shared; ``repr`` shows kind, shape and party count only."""

    __array_priority__ = 1000

    def __init__(self, ctx: ProtocolContext, share: np.ndarray, scale: int, *, transpose_of: SecretArray | None = None):
        self._ctx = ctx
        self._share = np.asarray(share, dtype=RING_DTYPE)
        self._scale = int(scale)
        self._transpose_of = transpose_of

    # ----- public facts -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self._share.shape

    @property
    def ndim(self) -> int:
        return self._share.ndim

    @property
    def size(self) -> int:
        return self._share.size

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
    def _refuse(self, what: str):
        raise SecretValueError(f"{what} needs the plain value of a secret. {_SECRET_HINT}")

    def __bool__(self):
        self._refuse("'if'/'while'/'and'/'or'/bool() on a secret")

    def __float__(self):
        self._refuse("float() of a secret")

    def __int__(self):
        self._refuse("int() of a secret")

    def __index__(self):
        self._refuse("using a secret as an index")

    def __complex__(self):
        self._refuse("complex() of a secret")

    def __str__(self):
        self._refuse("printing a secret (print/str/f-string)")

    def __format__(self, spec):
        self._refuse("formatting a secret")

    def __array__(self, dtype=None, copy=None):
        self._refuse("converting a secret to a numpy array")

    def __hash__(self):
        return id(self)

    # ----- comparisons: secret 0/1 integer arrays (see smpc_magic.functions) -------------------------
    def _compare(self, other, op: str):
        if not isinstance(other, SecretArray) and _public(other) is None:
            return NotImplemented
        from .functions import compare_values

        return compare_values(self, other, op)

    def __lt__(self, other):
        return self._compare(other, "<")

    def __le__(self, other):
        return self._compare(other, "<=")

    def __gt__(self, other):
        return self._compare(other, ">")

    def __ge__(self, other):
        return self._compare(other, ">=")

    def __eq__(self, other):
        return self._compare(other, "==")

    def __ne__(self, other):
        return self._compare(other, "!=")

    def __abs__(self):
        from .functions import absolute

        return absolute(self)

    # ----- construction helpers -----------------------------------------------------------------
    def _new(self, share: np.ndarray, scale: int | None = None) -> SecretArray:
        return SecretArray(self._ctx, share, self._scale if scale is None else scale)

    @ring_op
    def _at_scale(self, scale: int) -> np.ndarray:
        """This party's share at a larger scale (exact: multiply by a public power of two)."""
        if scale == self._scale:
            return self._share
        return self._share * U64(1 << (scale - self._scale))

    # ----- shape manipulation (local, free) -------------------------------------------------------
    @property
    def T(self) -> SecretArray:
        return SecretArray(self._ctx, self._share.T, self._scale, transpose_of=self)

    def transpose(self, *axes) -> SecretArray:
        if not axes or axes == (None,):
            return self.T
        return self._new(self._share.transpose(*axes))

    def reshape(self, *shape, order="C") -> SecretArray:
        return self._new(self._share.reshape(*shape, order=order))

    def ravel(self) -> SecretArray:
        return self._new(self._share.ravel())

    flatten = ravel

    def squeeze(self, axis=None) -> SecretArray:
        return self._new(self._share.squeeze(axis))

    def copy(self) -> SecretArray:
        return self._new(self._share.copy())

    def __getitem__(self, index) -> SecretArray:
        _check_public_index(index)
        return self._new(self._share[index])

    @ring_op
    def __setitem__(self, index, value) -> None:
        _check_public_index(index)
        other = as_secret(self._ctx, value)
        scale = max(self._scale, other._scale)
        if scale != self._scale:
            self._share = self._at_scale(scale)
            self._scale = scale
        self._share = self._share.copy()
        self._share[index] = other._at_scale(scale)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d secret")
        for i in range(self.shape[0]):
            yield self[i]

    # ----- arithmetic ---------------------------------------------------------------------------
    @ring_op
    def __neg__(self) -> SecretArray:
        return self._new(U64(0) - self._share)

    def __pos__(self) -> SecretArray:
        return self

    @ring_op
    def __add__(self, other) -> SecretArray:
        if isinstance(other, SecretArray):
            scale = max(self._scale, other._scale)
            return self._new(self._at_scale(scale) + other._at_scale(scale), scale)
        plain = _public(other)
        if plain is None:
            return NotImplemented
        scale = self._scale if _integral_dtype(plain) else max(self._scale, self._ctx.frac_bits)
        enc = _encode_public(plain, scale)
        return self._new(self._ctx.suite.add_public(self._ctx, self._at_scale(scale), enc), scale)

    __radd__ = __add__

    def __sub__(self, other) -> SecretArray:
        if isinstance(other, SecretArray):
            return self + (-other)
        plain = _public(other)
        if plain is None:
            return NotImplemented
        return self + (-plain)

    def __rsub__(self, other) -> SecretArray:
        return (-self) + other

    @ring_op
    def __mul__(self, other) -> SecretArray:
        if isinstance(other, SecretArray):
            product = self._ctx.suite.mul(self._ctx, self._share, other._share)
            return self._renormalise(product, self._scale + other._scale)
        plain = _public(other)
        if plain is None:
            return NotImplemented
        return self._mul_public(plain)

    __rmul__ = __mul__

    @ring_op
    def __truediv__(self, other) -> SecretArray:
        if isinstance(other, SecretArray):
            from .functions import divide

            return divide(self, other)
        plain = _public(other)
        if plain is None:
            return NotImplemented
        if plain.size and np.any(plain == 0):
            raise ZeroDivisionError("division of a secret by a public zero")
        if plain.ndim == 0 and _is_whole(plain) and abs(float(plain)) <= 2.0**40:
            divisor = int(plain)
            fixed = self._at_scale(max(self._scale, self._ctx.frac_bits))
            scale = max(self._scale, self._ctx.frac_bits)
            quotient = self._ctx.suite.div_public(self._ctx, fixed if divisor > 0 else U64(0) - fixed, abs(divisor))
            return self._new(quotient, scale)
        return self._mul_public(1.0 / plain.astype(np.float64), force_fixed=True)

    def __rtruediv__(self, other):
        from .functions import reciprocal

        if _public(other) is None:
            return NotImplemented
        return reciprocal(self) * other

    @ring_op
    def __matmul__(self, other) -> SecretArray:
        if isinstance(other, SecretArray):
            if self._transpose_of is other and other.ndim == 2:
                product = self._ctx.suite.gram(self._ctx, other._share)
            else:
                product = self._ctx.suite.matmul(self._ctx, self._share, other._share)
            return self._renormalise(product, self._scale + other._scale)
        plain = _public(other)
        if plain is None:
            return NotImplemented
        return self._matmul_public(plain, left=False)

    @ring_op
    def __rmatmul__(self, other) -> SecretArray:
        plain = _public(other)
        if plain is None:
            return NotImplemented
        return self._matmul_public(plain, left=True)

    def __pow__(self, exponent) -> SecretArray:
        if isinstance(exponent, numbers.Integral) and exponent >= 1:
            result = self
            for _ in range(int(exponent) - 1):
                result = result * self
            return result
        raise SecretValueError("secret ** n is available for whole n >= 1 only.")

    # ----- reductions ---------------------------------------------------------------------------
    @ring_op
    def sum(self, axis=None, keepdims=False) -> SecretArray:
        return self._new(np.sum(self._share, axis=axis, keepdims=keepdims, dtype=RING_DTYPE))

    def mean(self, axis=None, keepdims=False) -> SecretArray:
        total = self.sum(axis=axis, keepdims=keepdims)
        count = self.size if axis is None else int(np.prod([self.shape[a] for a in np.atleast_1d(axis)]))
        if count == 0:
            raise ValueError("mean of an empty secret array")
        return total / count

    def dot(self, other) -> SecretArray:
        return self @ other

    # ----- internals ----------------------------------------------------------------------------
    @ring_op
    def _renormalise(self, share: np.ndarray, scale: int) -> SecretArray:
        """Bring a product back to at most frac_bits fractional bits (one truncation round)."""
        f = self._ctx.frac_bits
        if scale <= f:
            return self._new(share, scale)
        return self._new(self._ctx.suite.div_public(self._ctx, share, 1 << (scale - f)), f)

    def _public_multiplier(self, plain: np.ndarray, force_fixed: bool) -> tuple[np.ndarray, int]:
        """Encode a public multiplier: exact integers at scale 0, otherwise with enough bits."""
        if _integral_dtype(plain) and not force_fixed:
            return plain.astype(np.int64).view(U64), 0
        values = plain.astype(np.float64)
        if not np.isfinite(values).all():
            raise EncodingError("a public multiplier or divisor is NaN or infinite")
        f = self._ctx.frac_bits
        biggest = float(np.abs(values).max()) if values.size else 0.0
        exponent = f
        if 0 < biggest < 2.0 ** (PUBLIC_MANTISSA_BITS - f):
            exponent = min(PUBLIC_MANTISSA_BITS - math.floor(math.log2(biggest)), 62 - f)
        if biggest * 2.0**exponent >= ENCODED_LIMIT:
            raise EncodingError(f"a public multiplier of magnitude {biggest:.3g} is too large for fixed point")
        return np.rint(values * 2.0**exponent).astype(np.int64).view(U64), exponent

    @ring_op
    def _mul_public(self, plain: np.ndarray, force_fixed: bool = False) -> SecretArray:
        enc, exponent = self._public_multiplier(plain, force_fixed)
        scale = self._scale + exponent
        return self._rescale_down(self._share * enc, scale)

    @ring_op
    def _matmul_public(self, plain: np.ndarray, left: bool) -> SecretArray:
        enc, exponent = self._public_multiplier(plain, False)
        share = enc @ self._share if left else self._share @ enc
        return self._rescale_down(share, self._scale + exponent)

    @ring_op
    def _rescale_down(self, share: np.ndarray, scale: int) -> SecretArray:
        """Truncate a product with a public value to scale frac_bits (or keep an integer exact)."""
        f = self._ctx.frac_bits
        target = 0 if scale == 0 else f
        if scale <= target:
            return self._new(share, scale)
        return self._new(self._ctx.suite.div_public(self._ctx, share, 1 << (scale - target)), target)

    # ----- numpy dispatch -----------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        from . import dispatch

        return dispatch.array_ufunc(self, ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        from . import dispatch

        return dispatch.array_function(func, args, kwargs)


# ----- helpers used by the array and by the smpc namespace -----------------------------------------
def _public(value) -> np.ndarray | None:
    """A plain value as a numpy array, or None for things arithmetic does not accept."""
    if isinstance(value, SecretArray):
        return None
    if isinstance(value, numbers.Number | np.ndarray | list | tuple | np.generic):
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            return None
        return arr
    return None


def _integral_dtype(arr: np.ndarray) -> bool:
    return arr.dtype.kind in "biu"


def _is_whole(arr: np.ndarray) -> bool:
    return _integral_dtype(arr) or bool(np.all(np.mod(arr, 1) == 0))


def _encode_public(plain: np.ndarray, scale: int) -> np.ndarray:
    if _integral_dtype(plain) and scale == 0:
        return plain.astype(np.int64).view(U64)
    enc, got = encode(plain.astype(np.float64), scale, what="a public value")
    return enc


def _check_public_index(index) -> None:
    parts = index if isinstance(index, tuple) else (index,)
    if any(isinstance(p, SecretArray) for p in parts):
        raise SecretValueError(
            "indexing by a secret would reveal which rows are chosen. Use arithmetic masks instead "
            "(multiply by a 0/1 secret column). " + _SECRET_HINT
        )


@ring_op
def as_secret(ctx: ProtocolContext, value) -> SecretArray:
    """A secret version of a public value (party 0 holds it, the others hold zero)."""
    if isinstance(value, SecretArray):
        return value
    plain = _public(value)
    if plain is None:
        raise TypeError(f"cannot combine a secret with {type(value).__name__}")
    if _integral_dtype(plain):
        enc, scale = plain.astype(np.int64).view(U64), 0
    else:
        enc, scale = encode(plain, ctx.frac_bits, what="a public value")
    share = enc.copy() if ctx.is_leader else np.zeros(enc.shape, U64)
    return SecretArray(ctx, share, scale)


def common_scale(arrays: list[SecretArray]) -> int:
    return max(a._scale for a in arrays)


def reveal(values: dict[str, SecretArray], to: list[int] | None = None) -> dict[str, np.ndarray] | None:
    """Open several secrets in one round to the parties ``to`` (all by default)."""
    if not values:
        return {}
    ctx = next(iter(values.values()))._ctx
    names = list(values)
    opened = ctx.suite.open_values(ctx, [values[k]._share for k in names], "reveal", to=to)
    if opened is None:
        return None
    return {k: decode(v, values[k]._scale) for k, v in zip(names, opened)}
