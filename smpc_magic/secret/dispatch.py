"""numpy dispatch for SecretArray: which numpy functions work on secrets, and how.

Anything not listed raises :class:`SecretValueError` naming the function, rather than letting
numpy try to read the (non-existent) plain values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import SecretValueError
from . import compare, functions, provenance
from .bounds import combine
from .core import SecretCore, align, as_secret

_BINARY_UFUNCS = {
    np.add: lambda a, b: a + b,
    np.subtract: lambda a, b: a - b,
    np.multiply: lambda a, b: a * b,
    np.true_divide: lambda a, b: a / b,
    np.matmul: lambda a, b: a @ b,
}
_UNARY_UFUNCS = {np.negative: lambda a: -a, np.positive: lambda a: a}


_FUNCTION_UFUNCS: dict[Any, Any] = {
    np.exp: functions.exp,
    np.log: functions.log,
    np.sqrt: functions.sqrt,
    np.absolute: compare.absolute,
    np.tanh: functions.tanh,
    np.sign: compare.sign,
    np.reciprocal: functions.reciprocal,
}
_COMPARISON_UFUNCS = {
    np.less: "<",
    np.less_equal: "<=",
    np.greater: ">",
    np.greater_equal: ">=",
    np.equal: "==",
    np.not_equal: "!=",
}
_BINARY_FUNCTION_UFUNCS: dict[Any, Any] = {np.maximum: compare.maximum, np.minimum: compare.minimum}
#: the elementwise numpy functions a refusal lists
_ELEMENTWISE_NAMED = (*_FUNCTION_UFUNCS, *_BINARY_FUNCTION_UFUNCS)


def _is_secret(value: object) -> bool:
    return isinstance(value, SecretCore)


def array_ufunc(secret: SecretCore, ufunc: Any, method: str, inputs: Any, kwargs: Any) -> Any:
    if kwargs.get("out") is not None:
        raise SecretValueError(f"np.{ufunc.__name__}(..., out=...) is not supported on secrets")
    if method == "__call__":
        if ufunc in _BINARY_UFUNCS and len(inputs) == 2:
            a, b = inputs
            if not _is_secret(a):
                a = as_secret(secret, a) if ufunc in (np.subtract, np.true_divide) else a
            if _is_secret(a):
                return _BINARY_UFUNCS[ufunc](a, b)
            return _BINARY_UFUNCS[ufunc](b, a) if ufunc in (np.add, np.multiply) else b.__rmatmul__(a)
        if ufunc in _UNARY_UFUNCS:
            return _UNARY_UFUNCS[ufunc](inputs[0])
        if ufunc in _FUNCTION_UFUNCS and len(inputs) == 1:
            return _FUNCTION_UFUNCS[ufunc](inputs[0])
        if ufunc in _COMPARISON_UFUNCS:
            return compare.compare_values(inputs[0], inputs[1], _COMPARISON_UFUNCS[ufunc])
        if ufunc in _BINARY_FUNCTION_UFUNCS:
            return _BINARY_FUNCTION_UFUNCS[ufunc](*inputs)
    if method == "reduce" and ufunc is np.add:
        return inputs[0].sum(axis=kwargs.get("axis", 0), keepdims=kwargs.get("keepdims", False))
    raise SecretValueError(
        f"np.{ufunc.__name__} is not available on secret arrays in this version (supported: + - * / @ **, "
        "comparisons, np.sum, np.mean, " + ", ".join(f"np.{u.__name__}" for u in _ELEMENTWISE_NAMED) + "). For "
        'statistics (means, variances, tables, regressions, rates, survival) use smpc.stats (README, "Statistics")'
    )


def _secrets(ref: SecretCore, items: Any, operation: str) -> list[SecretCore]:
    return align([as_secret(ref, v) for v in items], operation)


def _first_secret(values: Any) -> Any:
    for v in values:
        if _is_secret(v):
            return v
        if isinstance(v, list | tuple):
            found = _first_secret(v)
            if found is not None:
                return found
    return None


def _joined(numpy_func: Any, arrays: Any, **kwargs: Any) -> Any:
    """A structural numpy function (concatenate, stack, ...) applied to shares and to bounds."""
    ref = _first_secret(arrays)
    parts = _secrets(ref, arrays, f"np.{numpy_func.__name__}")
    share = numpy_func([p._share for p in parts], **kwargs)
    bound = combine(numpy_func, [p._bound for p in parts], [p.shape for p in parts], **kwargs)
    prov = provenance.joined(numpy_func, [p._prov for p in parts], [p.shape for p in parts], **kwargs)
    return parts[0]._new(share, parts[0]._scale, bound=bound, prov=prov)


def _concatenate(arrays: Any, axis: Any = 0, **kwargs: Any) -> Any:
    return _joined(np.concatenate, arrays, axis=axis)


def _stack(arrays: Any, axis: Any = 0, **kwargs: Any) -> Any:
    return _joined(np.stack, arrays, axis=axis)


def _stacker(numpy_func: Any) -> Any:
    def run(arrays: Any, *args: Any, **kwargs: Any) -> Any:
        return _joined(numpy_func, arrays)

    return run


def _dot(a: Any, b: Any, out: Any = None) -> Any:
    if _is_secret(a) and _is_secret(b) and (a.ndim == 0 or b.ndim == 0):
        return a * b
    if _is_secret(a):
        return a @ b
    return b.__rmatmul__(a)


_FUNCTIONS: dict[Any, Any] = {
    np.where: compare.where,
    np.max: compare.amax,
    np.amax: compare.amax,
    np.min: compare.amin,
    np.amin: compare.amin,
    np.argmax: compare.argmax,
    np.argmin: compare.argmin,
    np.clip: lambda a, a_min, a_max, **kw: compare.clip(a, a_min, a_max),
    np.sum: lambda a, axis=None, keepdims=False, **kw: a.sum(axis=axis, keepdims=keepdims),
    np.mean: lambda a, axis=None, keepdims=False, **kw: a.mean(axis=axis, keepdims=keepdims),
    np.dot: _dot,
    np.matmul: lambda a, b, **kw: a @ b if _is_secret(a) else b.__rmatmul__(a),
    np.concatenate: _concatenate,
    np.stack: _stack,
    np.vstack: _stacker(np.vstack),
    np.hstack: _stacker(np.hstack),
    np.column_stack: _stacker(np.column_stack),
    np.transpose: lambda a, axes=None: a.transpose() if axes is None else a.transpose(*axes),
    np.reshape: lambda a, shape=None, *args, **kw: a.reshape(shape if shape is not None else kw.get("newshape")),
    np.ravel: lambda a, order="C": a.ravel(),
    np.squeeze: lambda a, axis=None: a.squeeze(axis),
    np.shape: lambda a: a.shape,
    np.ndim: lambda a: a.ndim,
    np.size: lambda a, axis=None: a.size if axis is None else a.shape[axis],
    np.expand_dims: lambda a, axis: a._new(
        np.expand_dims(a._share, axis), bound=a._bound.expand_dims(axis), prov=a._prov.expand_dims(axis)
    ),
    np.negative: lambda a: -a,
    np.add: lambda a, b: a + b,
    np.multiply: lambda a, b: a * b,
}


def array_function(func: Any, args: Any, kwargs: Any) -> Any:
    handler = _FUNCTIONS.get(func)
    if handler is None:
        raise SecretValueError(
            f"np.{func.__name__} is not available on secret arrays in this version. Supported: "
            + ", ".join(sorted(f"np.{f.__name__}" for f in _FUNCTIONS))
            + "; elementwise: + - * / @ **, comparisons, "
            + ", ".join(f"np.{u.__name__}" for u in _ELEMENTWISE_NAMED)
            + ". For statistics (means, variances, tables, regressions, rates, survival) use smpc.stats "
            '(README, "Statistics")'
        )
    return handler(*args, **kwargs)
