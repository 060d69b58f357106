"""What a %%smpc cell may use: name analysis by AST, and the sandbox namespace it runs in."""

from __future__ import annotations

import ast
import builtins
import hashlib
from collections.abc import Set
from dataclasses import dataclass

import numpy as np

from ..errors import CellError, UnknownNameError

_SAFE_BUILTIN_NAMES = (
    "abs all any bool dict enumerate filter float int isinstance len list map max min range reversed "
    "round set slice sorted str sum tuple zip print True False None ValueError TypeError "
    "ZeroDivisionError ArithmeticError Exception"
).split()

SAFE_BUILTINS = {name: getattr(builtins, name) for name in _SAFE_BUILTIN_NAMES}
PROVIDED = {"np", "numpy", "smpc"}


@dataclass(frozen=True)
class CellNames:
    used: frozenset[str]
    assigned: frozenset[str]

    @property
    def free(self) -> frozenset[str]:
        """Names the cell reads but never binds itself."""
        return self.used - self.assigned - set(SAFE_BUILTINS) - PROVIDED


def analyse(code: str) -> CellNames:
    """Parse the cell; refuse what cannot run securely (imports, globals)."""
    try:
        tree = ast.parse(code, filename="<smpc cell>")
    except SyntaxError as exc:
        raise CellError(f"the cell has a syntax error on line {exc.lineno}: {exc.msg}") from None
    used: set[str] = set()
    assigned: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            raise CellError("import is not allowed in a %%smpc cell; numpy (np) and smpc are already available.")
        if isinstance(node, ast.Global | ast.Nonlocal):
            raise CellError("global/nonlocal are not allowed in a %%smpc cell.")
        if isinstance(node, ast.Name):
            (used if isinstance(node.ctx, ast.Load) else assigned).add(node.id)
        elif isinstance(node, ast.arg):
            assigned.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            assigned.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            assigned.add(node.name)
    return CellNames(frozenset(used), frozenset(assigned))


def check_names(names: CellNames, private: set[str], public: set[str], extra: Set[str] = frozenset()) -> None:
    """Every free name must be private (at some party), public or otherwise provided."""
    missing = sorted(names.free - private - public - set(extra))
    if missing:
        name = missing[0]
        raise UnknownNameError(
            f"name {name!r} is not available inside a %%smpc cell: no party marked it private and it was "
            f"not passed as public. Mark it at the site that holds it (`%smpc private {name}` / simulate "
            f"inputs) or pass it with `--public {name}` if every site has the same value."
            + (f" Also missing: {', '.join(missing[1:])}." if len(missing) > 1 else "")
        )


def cell_digest(code: str) -> str:
    return hashlib.sha256(code.strip().encode("utf-8")).hexdigest()


def public_digest(values: dict) -> str:
    """A hash of the public values, compared between parties so all compute on the same ones."""
    h = hashlib.sha256()
    for name in sorted(values):
        value = values[name]
        h.update(name.encode() + b"\0")
        if callable(value):
            import inspect

            try:
                source = inspect.getsource(value)
            except (OSError, TypeError):
                raise CellError(f"public function {name!r} has no source code to compare between sites") from None
            h.update(b"fn\0" + source.encode())
            continue
        if isinstance(value, str):
            h.update(b"str\0" + value.encode())
            continue
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise CellError(f"public value {name!r} of type {type(value).__name__} cannot be compared between sites")
        h.update(f"{arr.dtype.str}{arr.shape}".encode() + np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def run_in_sandbox(code: str, namespace: dict) -> dict:
    """Execute the cell in ``namespace`` (with safe builtins only) and return it."""
    namespace.setdefault("__builtins__", SAFE_BUILTINS)
    exec(compile(code, "<smpc cell>", "exec"), namespace)  # noqa: S102 - the site's own cell
    return namespace
