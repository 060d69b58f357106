"""``SecretArray``: the numpy-like secret array users see inside %%smpc cells.

The core (:mod:`.core`) holds shares and fixed-point bookkeeping; this class adds what builds on
the function library: comparisons (secret 0/1 integer arrays), ``abs``, division by secrets,
and numpy dispatch through ``__array_ufunc__`` / ``__array_function__``. Anything that would need
the plain value (``if``, ``float()``, printing) raises :class:`SecretValueError` instead.
"""

from __future__ import annotations

from typing import Any

from . import compare, dispatch, functions
from .core import SecretCore, public_array


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

    # ----- numpy dispatch ---------------------------------------------------------------------
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return dispatch.array_ufunc(self, ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        return dispatch.array_function(func, args, kwargs)
