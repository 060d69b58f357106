"""What makes a cell's step a soft selection: a nonlinear function the cell calls (the
outermost call only; a library function's own products and functions are its steps, not the
cell's), marked by :func:`~.compare.soft_indicator`."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from .compare import soft_indicator
from .core import SecretCore as SecretArray

F = TypeVar("F", bound=Callable[..., Any])


class _Depth(threading.local):
    value = 0


_DEPTH = _Depth()


@contextlib.contextmanager
def nested() -> Iterator[None]:
    """Inside a function of the library: the products and functions it runs are its own steps,
    not the cell's (only the outermost call's result is a soft selection)."""
    _DEPTH.value += 1
    try:
        yield
    finally:
        _DEPTH.value -= 1


def outermost() -> bool:
    """Whether the cell itself, not a library function, is running this step."""
    return _DEPTH.value == 0


def soft(what: str, data: int = 0) -> Callable[[F], F]:
    """A function a cell calls (the outermost one only; not inside statistics): its result, of
    row-level data, is a soft selection of rows (:func:`~.compare.soft_indicator`). ``data``:
    which argument holds the row data (a divisor: 1)."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            with nested():
                out = fn(*args, **kwargs)
            source = args[data] if len(args) > data else None
            if _DEPTH.value == 0 and isinstance(source, SecretArray) and isinstance(out, SecretArray):
                out = soft_indicator(out, source, what)
            return out

        return run  # type: ignore[return-value]

    return wrap
