"""``--public`` functions: recompiled from their source inside the cell boundary.

A notebook function carries its notebook's globals, closures and defaults, none of which the
sites can compare. So a public function is taken as its source text only, checked like a cell,
and defined afresh inside each computation's sandbox: every name it reads must be public or
provided, so its behaviour is fixed by its source and the public values, both of which the
sites compare in the rendezvous.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
from collections.abc import Mapping, Set

from ..errors import CellError
from .cell_policy import PublicFunction, check_policy
from .guards import SAFE_BUILTINS
from .sandbox import PROVIDED, analyse


def from_notebook(name: str, value: object) -> PublicFunction:
    """The public function ``name`` of a notebook, checked; a clear error for what cannot be one."""
    if isinstance(value, PublicFunction):
        return value
    if not isinstance(value, types.FunctionType) or value.__name__ == "<lambda>":
        raise CellError(
            f"--public {name}: only functions defined with 'def {name}(...)' in the notebook can be public "
            f"(got {type(value).__name__}); numpy functions are already available as np.*"
        )
    if value.__closure__:
        raise CellError(
            f"--public {name}: the function uses variables of the function it was defined in; "
            "define it at the top level of the notebook"
        )
    try:
        source = textwrap.dedent(inspect.getsource(value))
    except (OSError, TypeError):
        raise CellError(f"--public {name}: its source code cannot be found, so the sites cannot compare it") from None
    return parse(name, source)


def parse(name: str, source: str) -> PublicFunction:
    """Check ``source`` is exactly one undecorated ``def name(...)`` within the cell language."""
    tree, _ = check_policy(source)
    body = tree.body
    if len(body) != 1 or not isinstance(body[0], ast.FunctionDef) or body[0].name != name:
        raise CellError(f"--public {name}: the source must be a single 'def {name}(...)' (no aliases, no lambdas)")
    if body[0].decorator_list:
        raise CellError(f"--public {name}: decorated functions cannot be public; remove the decorator")
    return PublicFunction(name, source)


def free_names(function: PublicFunction) -> frozenset[str]:
    """Names the function reads that it does not bind itself (its globals)."""
    return analyse(function.source).free - {function.name}


def check_globals(functions: list[PublicFunction], available: Set[str]) -> None:
    """Every global a public function reads must be public or provided."""
    for function in functions:
        missing = sorted(free_names(function) - set(available))
        if missing:
            raise CellError(
                f"--public {function.name}: the function reads {', '.join(map(repr, missing))}, which "
                "is not public; pass it with --public too (or make it an argument)"
            )


def prepare(public: Mapping[str, object]) -> dict[str, object]:
    """The public values with every function replaced by its checked source; refuses a
    function whose globals are not public or provided."""
    out = {
        name: from_notebook(name, v) if callable(v) or isinstance(v, PublicFunction) else v
        for name, v in public.items()
    }
    functions = [v for v in out.values() if isinstance(v, PublicFunction)]
    check_globals(functions, set(out) | PROVIDED | set(SAFE_BUILTINS))
    return out
