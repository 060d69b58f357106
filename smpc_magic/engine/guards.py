"""Run-time guards of the cell boundary: which attribute of which object a cell may read.

Cells are compiled by RestrictedPython (:mod:`.cell_policy`), which turns every ``obj.name``
into ``_getattr_(obj, name)``. Here that call looks the object's kind up in an allow-list; an
attribute that is not listed for that kind is refused, whatever the object. The lists name
what analysts use (shapes, sums, reshapes, list and dict methods); nothing on them leads to a
module, a frame, a function's globals, a file, native code, or a secret array's shares, its
protocol context or the party's keys.
"""

from __future__ import annotations

import builtins
import operator
import sys
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence

from ..errors import CellBoundaryError
from ..secret.core import SecretCore
from ..secret.frames import SecretFrame
from ..secret.streamed import STREAMED_TYPES, StreamedFrame
from ..stats.results import SecretResult, result_attributes
from .facades import Facade

_ARRAY_ATTRIBUTES = frozenset(
    """
    T all any argmax argmin argsort astype clip copy cumprod cumsum diagonal dot dtype flatten item
    max mean min ndim nonzero prod ravel real imag repeat reshape round shape size sort squeeze std
    sum swapaxes take tolist trace transpose var
    """.split()
)
_SECRET_ATTRIBUTES = frozenset(
    """
    T argmax argmin astype bound clip copy dot flatten is_integer kind max mean min ndim ravel reshape
    round shape size squeeze std sum transpose var
    """.split()
)
_FRAME_ATTRIBUTES = frozenset(
    "categorical columns complete_cases level_index levels loc mean observed one_hot shape sum to_numpy values".split()
)
_STREAMED_ATTRIBUTES = frozenset("columns shape sum mean categorical levels observed n_rows name ndim".split())
_ALLOWED: list[tuple[type | tuple[type, ...], frozenset[str]]] = [
    (SecretCore, _SECRET_ATTRIBUTES),
    (STREAMED_TYPES, _STREAMED_ATTRIBUTES),
    ((np.ndarray, np.generic), _ARRAY_ATTRIBUTES),
    (np.dtype, frozenset("kind name itemsize".split())),
    (np.ufunc, frozenset("reduce accumulate outer nin nout".split())),
    (list, frozenset("append extend pop insert index count copy reverse sort remove clear".split())),
    (dict, frozenset("get items keys values pop setdefault update copy".split())),
    (tuple, frozenset("index count".split())),
    (set, frozenset("add union intersection difference update discard copy".split())),
    (str, frozenset("join split strip lstrip rstrip lower upper replace startswith endswith".split())),
    ((bool, int, float), frozenset("real imag is_integer".split())),
    (slice, frozenset("start stop step".split())),
    (BaseException, frozenset(["args"])),
]

#: Every attribute name some object may have in a cell (besides facade members and frame
#: columns); a name outside this set is refused when the cell is compiled.
STATIC_ATTRIBUTES = frozenset().union(*(names for _, names in _ALLOWED), _FRAME_ATTRIBUTES, result_attributes())


def _kind(obj: object) -> str:
    if isinstance(obj, SecretCore):
        return "secret array"
    if isinstance(obj, STREAMED_TYPES):
        return "frame read in row blocks"
    if isinstance(obj, np.ndarray):
        return "numpy array"
    if isinstance(obj, type):
        return "type"
    return type(obj).__name__


def allowed_attributes(obj: object) -> frozenset[str]:
    """The attribute names a cell may read on ``obj``."""
    if isinstance(obj, Facade):
        return obj.members
    if isinstance(obj, SecretFrame | StreamedFrame):
        return (_FRAME_ATTRIBUTES if isinstance(obj, SecretFrame) else _STREAMED_ATTRIBUTES) | frozenset(obj.columns)
    if isinstance(obj, SecretResult):
        return obj.cell_attributes()
    if isinstance(obj, type):
        return frozenset()  # no classes' attributes: that is where subclasses and mro live
    for kinds, names in _ALLOWED:
        if isinstance(obj, kinds):
            return names
    return frozenset()


def guarded_getattr(obj: object, name: str, *default: object) -> Any:
    """``obj.name`` for a cell: allowed only if listed for the object's kind."""
    if not isinstance(name, str) or name.startswith("_") or name not in allowed_attributes(obj):
        raise CellBoundaryError(
            f"'.{name}' of a {_kind(obj)} is not available in a %%smpc cell",
            construct=f".{name}",
        )
    if isinstance(obj, Facade):
        return obj.member(name)
    return getattr(obj, name, *default)


def guarded_getitem(obj: Any, key: Any) -> Any:
    return obj[key]


def guarded_write(obj: Any) -> Any:
    """Item assignment targets (attribute assignment is refused when the cell is compiled)."""
    if isinstance(obj, Facade):
        raise CellBoundaryError("np and smpc cannot be changed in a %%smpc cell", construct="assignment")
    return obj


_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    "**=": operator.ipow,
    "@=": operator.imatmul,
    "&=": operator.iand,
    "|=": operator.ior,
    "^=": operator.ixor,
    "<<=": operator.ilshift,
    ">>=": operator.irshift,
}


def inplace(op: str, target: Any, value: Any) -> Any:
    return _INPLACE[op](target, value)


def apply(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return function(*args, **kwargs)


class CellPrinter:
    """``print`` in a cell: to the site's own output, never to a file object."""

    def __init__(self, _getattr_: Any = None):
        pass

    def _call_print(self, *objects: Any, **kwargs: Any) -> None:
        if "file" in kwargs:
            raise CellBoundaryError("print(file=...) is not available in a %%smpc cell", construct="print(file=...)")
        print(*objects, **kwargs, file=sys.stdout)


_SAFE_BUILTIN_NAMES = (
    "abs all any bool dict enumerate filter float int isinstance len list map max min range reversed "
    "round set slice sorted str sum tuple zip True False None ValueError TypeError ZeroDivisionError "
    "ArithmeticError Exception KeyError IndexError"
).split()
SAFE_BUILTINS: dict[str, Any] = {name: getattr(builtins, name) for name in _SAFE_BUILTIN_NAMES}


def restricted_globals(members: dict[str, Any]) -> dict[str, Any]:
    """The globals a compiled cell runs with: safe builtins, the guards, and ``members``."""
    return {
        "__builtins__": SAFE_BUILTINS,
        "__name__": "smpc_cell",
        "_getattr_": guarded_getattr,
        "_getitem_": guarded_getitem,
        "_getiter_": iter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": guarded_write,
        "_inplacevar_": inplace,
        "_apply_": apply,
        "_print_": CellPrinter,
        **members,
    }


def builtin_names() -> Iterable[str]:
    return SAFE_BUILTINS.keys()
