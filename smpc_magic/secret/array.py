"""``SecretArray``: the numpy-like secret array users see inside %%smpc cells.

The core (:mod:`.core`) holds shares and fixed-point bookkeeping; this class adds what builds on
the function library: comparisons (secret 0/1 integer arrays), ``abs``, division by secrets,
and numpy dispatch through ``__array_ufunc__`` / ``__array_function__``. Anything that would need
the plain value (``if``, ``float()``, printing) raises :class:`SecretValueError` instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import SecretValueError
from . import accuracy, compare, dispatch, functions, soft
from .bounds import Bound
from .core import SecretCore, public_array
from .provenance import in_statistic

#: products of this many row-level factors are steep enough to pick rows (x ** 3 does)
_STEEP_DEGREE = 3


class SecretArray(SecretCore):
    """An array whose values are secret-shared; ``repr`` shows kind, shape and party count only."""

    # ----- comparisons: secret 0/1 integer arrays --------------------------------------------
    def _compare(self, other: Any, op: str) -> Any:
        if not isinstance(other, SecretCore) and public_array(other) is None:
            return NotImplemented
        return compare.compare_values(self, other, op)

    def __lt__(self, other: Any) -> Any:
        return self._compare(other, "<")

    def __le__(self, other: Any) -> Any:
        return self._compare(other, "<=")

    def __gt__(self, other: Any) -> Any:
        return self._compare(other, ">")

    def __ge__(self, other: Any) -> Any:
        return self._compare(other, ">=")

    def __eq__(self, other: Any) -> Any:
        return self._compare(other, "==")

    def __ne__(self, other: Any) -> Any:
        return self._compare(other, "!=")

    __hash__ = SecretCore.__hash__

    def __abs__(self) -> SecretCore:
        return compare.absolute(self)

    # ----- products: three or more row-level factors are a soft selection ----------------------
    def _steep(self, result: Any, other: Any, what: str) -> Any:
        """``result``, a product of this value and ``other`` (secret or None), marked as a soft
        selection when it multiplies three or more row-level factors and adds one: ``x * x * x``,
        ``(x * x) * (x * x)`` again and again, chained powers, batched ``@`` pick the rows where x
        is largest as ``x ** 3`` does. It keeps its true degree, so squaring it again is checked
        again. The cell's own steps only (not inside library functions or statistics)."""
        if not isinstance(result, SecretCore) or not soft.outermost() or in_statistic():
            return result
        degree = result._prov.row_degree()
        before = max(self._prov.row_degree(), other._prov.row_degree() if isinstance(other, SecretCore) else 0)
        if degree < _STEEP_DEGREE or degree <= before:
            return result
        marked = compare.soft_indicator(result, self, what)
        marked._prov = marked._prov.with_degree(degree)
        return marked

    def __mul__(self, other: Any) -> Any:
        result = super().__mul__(other)
        if not isinstance(other, SecretCore):
            return result
        return self._steep(result, other, "a product of three or more row values")

    __rmul__ = __mul__

    def __matmul__(self, other: Any) -> Any:
        inner = self._prov.row_degree() + (other._prov.row_degree() if isinstance(other, SecretCore) else 0)
        cell_step = isinstance(other, SecretCore) and soft.outermost() and not in_statistic()
        if cell_step and inner >= _STEEP_DEGREE and self.ndim == 1 and other.ndim == 1:
            return (self * other).sum()  # (the products it sums are checked as any product)
        result = super().__matmul__(other)  # (batches of 1 x 1 matrices multiply rows one by one)
        if not cell_step:
            return result
        if inner >= _STEEP_DEGREE and not result._prov.is_row_level():
            raise SecretValueError(
                f"a matrix product that sums products of {inner} row values (such as (x * x) @ x or X.T @ X with "
                "squared columns) picks the rows where they are largest; write it as an elementwise product and "
                "a sum, (a * b).sum(axis=0), which the engine checks as any product, or use smpc.stats"
            )
        return self._steep(result, other, "a product of three or more row values")

    def __pow__(self, exponent: Any) -> Any:
        with soft.nested():  # (its products are one step)
            result = super().__pow__(exponent)
        # a steep power picks the largest rows, however the powers are chained: (a ** 2) ** 2
        return self._steep(result, None, f"a power ({int(exponent)})")

    # ----- division ---------------------------------------------------------------------------
    def __truediv__(self, other: Any) -> Any:
        if isinstance(other, SecretCore):
            return functions.divide(self, other)
        plain = public_array(other)
        if plain is None:
            return NotImplemented
        return self._div_by_public(plain)

    def __rtruediv__(self, other: Any) -> Any:
        if public_array(other) is None:
            return NotImplemented
        return functions.reciprocal(self) * other

    # ----- numpy-like methods -----------------------------------------------------------------
    def max(self, axis: Any = None) -> Any:
        """Largest value (along ``axis``): a tree of comparisons."""
        return compare.amax(self, axis)

    def min(self, axis: Any = None) -> Any:
        return compare.amin(self, axis)

    def argmax(self, axis: Any = None) -> Any:
        """Position of the largest value, as a secret integer (index with it via arithmetic masks)."""
        return compare.argmax(self, axis)

    def argmin(self, axis: Any = None) -> Any:
        return compare.argmin(self, axis)

    def clip(self, lower: Any, upper: Any) -> Any:
        return compare.clip(self, lower, upper)

    def var(self, axis: Any = None, ddof: int = 0) -> Any:
        """Variance with numpy's default ``ddof=0`` (smpc.stats.var has ddof=1 and keeps raw
        scales exact)."""
        count = self.size if axis is None else self.shape[axis]
        if count <= ddof:
            raise ValueError(f"var of {count} values with ddof={ddof}")
        deviation = self - self.mean(axis=axis, keepdims=True)
        return (deviation * deviation).sum(axis=axis) / (count - ddof)

    def std(self, axis: Any = None, ddof: int = 0) -> Any:
        return functions.sqrt(self.var(axis=axis, ddof=ddof))

    def astype(self, dtype: Any) -> Any:
        """Integer to fixed point (exact), or fixed point to the nearest integer (halves round up;
        numpy's astype(int) truncates towards zero instead): a truncation, then one comparison
        batch corrects it by one where it went the other way."""
        kind = np.dtype(dtype).kind
        if kind == "f":
            if self._scale:
                return self
            return self._new(self._at_scale(self._ctx.frac_bits), self._ctx.frac_bits, bound=self._bound)
        if kind not in "iub":
            raise SecretValueError(f"astype({dtype!r}): a secret can be an integer or fixed point only")
        if not self._scale:
            return self
        near = self._truncated(self._scale)  # an integer within one of the value
        rest = (self - near)._with_bound(Bound.of(-1.01, 1.01, self.ndim))
        below_half, below_minus_half = compare.stacked_signs([rest - 0.5, rest + 0.5])
        up = 1 - below_half
        rounded = near + up - below_minus_half
        rounded._prov = rounded._prov.as_rounded()  # a count of rows over secret thresholds when summed
        # the nearest integer of the value as stored, exactly (as a comparison is exact): an
        # input within its error of a half may round the other way, as numpy's would on it; an
        # input further from its exact value than a release of it may be carries that on
        error = self._bound.error() + 1 if accuracy.beyond_tolerance(self) else 0.0
        rounded._bound = rounded._bound.with_error(np.full((1,) * rounded.ndim, error))
        return rounded

    def round(self, decimals: int = 0) -> Any:
        """The nearest integer (as :meth:`astype` ``(int)``); only ``decimals=0``."""
        if decimals != 0:
            raise SecretValueError(
                "round(x, decimals) of a secret is not available; released values are shown with the digits "
                "their precision supports"
            )
        return self.astype(np.int64)

    # ----- numpy dispatch ---------------------------------------------------------------------
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return dispatch.array_ufunc(self, ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        return dispatch.array_function(func, args, kwargs)
