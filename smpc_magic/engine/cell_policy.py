"""The cell language: what a %%smpc cell may contain, checked before any message is sent, and
its compilation with RestrictedPython so that every attribute read goes through the guards of
:mod:`.guards`.

Two layers. The checks here refuse, with the line and the construct, what a cell never needs:
imports, classes, ``with``, generators, ``global``, attribute assignment, the introspection
builtins (``getattr``, ``type``, ``vars``...), names and attributes starting with ``_`` and
attribute names no allowed object has. RestrictedPython then compiles the cell so that reads of
attributes, items and iterators call guards at run time, where the object's kind decides.
"""

from __future__ import annotations

import ast
import traceback
from collections.abc import Set
from dataclasses import dataclass
from types import CodeType

from RestrictedPython import compile_restricted_exec

from ..errors import CellBoundaryError, CellError
from .facades import LINALG_FUNCTIONS, NP, SMPC, STATS_FUNCTIONS, Facade
from .guards import STATIC_ATTRIBUTES

CELL_FILENAME = "<smpc cell>"

#: Builtins that reach objects' internals, code or files: not in a cell's builtins; a cell that
#: uses one (and has no variable of that name) is told so by name.
REFUSED_BUILTINS = frozenset(
    """
    getattr setattr delattr hasattr vars type dir eval exec compile open globals locals id input
    breakpoint help memoryview object super classmethod staticmethod property format iter next
    """.split()
)

_REFUSED_NODES: list[tuple[type | tuple[type, ...], str]] = [
    ((ast.Import, ast.ImportFrom), "import (np and smpc are already available)"),
    ((ast.Global, ast.Nonlocal), "global/nonlocal"),
    (ast.ClassDef, "class definitions"),
    ((ast.With, ast.AsyncWith), "with statements"),
    ((ast.AsyncFunctionDef, ast.AsyncFor, ast.Await), "async code"),
    ((ast.Yield, ast.YieldFrom), "generators (yield)"),
    # a caught error would let a cell observe a check, one bit per try; every error stops the cell
    ((ast.Try, ast.TryStar), "try/except (an error in a %%smpc cell stops the whole cell at every site)"),
]

#: Attribute names that reach formatting internals, classes, native code or files: never a
#: column name a cell may use, refused as soon as the cell is read.
NEVER_COLUMNS = frozenset(
    """
    format format_map mro ctypes ctypeslib tofile tobytes dump dumps view base data flags strides
    gi_frame gi_code cr_frame f_globals f_locals f_back tb_frame func_globals load save system
    """.split()
)

#: Attribute names some object in a cell may have: the guards' lists and the facades' members.
KNOWN_ATTRIBUTES = STATIC_ATTRIBUTES | NP.members | SMPC.members | LINALG_FUNCTIONS | STATS_FUNCTIONS


@dataclass(frozen=True)
class PublicFunction:
    """A ``--public`` function as the sites compare and run it: its name and dedented source
    (see :mod:`.public_functions`)."""

    name: str
    source: str

    @property
    def filename(self) -> str:
        return f"<public function {self.name}>"


@dataclass(frozen=True)
class PolicyReport:
    """Attribute names the cell reads that only a secret frame's column could explain, with
    the line of their first use (checked once every site's columns are known)."""

    column_attributes: dict[str, int]


def check_policy(code: str, known_columns: Set[str] = frozenset()) -> tuple[ast.Module, PolicyReport]:
    """Parse and check the cell; raise :class:`CellBoundaryError` for the first refused construct."""
    try:
        tree = ast.parse(code, filename=CELL_FILENAME)
    except SyntaxError as exc:
        raise CellError(f"the cell has a syntax error on line {exc.lineno}: {exc.msg}") from None
    columns: dict[str, int] = {}
    for node in ast.walk(tree):
        line = getattr(node, "lineno", None)
        for kinds, what in _REFUSED_NODES:
            if isinstance(node, kinds):
                raise CellBoundaryError(f"{what} cannot be used in a %%smpc cell", construct=what, line=line)
        if isinstance(node, ast.Name):
            _check_name(node.id, line)
            if node.id in REFUSED_BUILTINS:
                raise CellBoundaryError(f"{node.id}() is not available in a %%smpc cell", construct=node.id, line=line)
        elif isinstance(node, ast.arg | ast.FunctionDef):
            _check_name(node.arg if isinstance(node, ast.arg) else node.name, line)
        elif isinstance(node, ast.Attribute):
            if not isinstance(node.ctx, ast.Load):
                raise CellBoundaryError(
                    f"setting or deleting an attribute ('.{node.attr} = ...') is not possible in a %%smpc cell",
                    construct=f".{node.attr} =",
                    line=line,
                )
            if node.attr.startswith("_"):
                raise CellBoundaryError(
                    f"'.{node.attr}' is not available in a %%smpc cell (no attribute starting with '_' is)",
                    construct=f".{node.attr}",
                    line=line,
                )
            facade = _facade_of(node.value)
            if facade is not None and node.attr not in facade.members:
                raise CellBoundaryError(
                    f"'{_dotted(node)}' is not available in a %%smpc cell (see README for the np.* and smpc.* functions)",
                    construct=_dotted(node),
                    line=line,
                )
            if node.attr in NEVER_COLUMNS or (
                facade is None and node.attr not in KNOWN_ATTRIBUTES and node.attr not in known_columns
            ):
                if node.attr in NEVER_COLUMNS:
                    raise CellBoundaryError(
                        f"'.{node.attr}' is not available in a %%smpc cell (for a frame column of that "
                        f"name, write df[{node.attr!r}])",
                        construct=f".{node.attr}",
                        line=line,
                    )
                columns.setdefault(node.attr, line or 0)
    return tree, PolicyReport(columns)


def _facade_of(node: ast.expr) -> Facade | None:
    """The facade an attribute is read from, when the code names it (``np.x``, ``np.linalg.x``)."""
    if isinstance(node, ast.Name) and node.id in ("np", "numpy"):
        return NP
    if isinstance(node, ast.Name) and node.id == "smpc":
        return SMPC
    if isinstance(node, ast.Attribute) and node.attr == "linalg" and _facade_of(node.value) is NP:
        return NP.member("linalg")  # type: ignore[no-any-return]
    if isinstance(node, ast.Attribute) and node.attr == "stats" and _facade_of(node.value) is SMPC:
        return SMPC.member("stats")  # type: ignore[no-any-return]
    return None


def _dotted(node: ast.Attribute) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # pragma: no cover - unparse handles every parsed expression
        return f".{node.attr}"


def check_column_attributes(report: PolicyReport, columns: Set[str]) -> None:
    """After the rendezvous: every attribute the cell reads that no object has must be a column."""
    for name, line in sorted(report.column_attributes.items(), key=lambda item: item[1]):
        if name not in columns:
            raise CellBoundaryError(
                f"'.{name}' is not available in a %%smpc cell (it is no allowed attribute and no "
                "column of a private data frame)",
                construct=f".{name}",
                line=line,
            )


def _check_name(name: str, line: int | None) -> None:
    if name.startswith("_") and name != "_":  # ``_`` alone: a throwaway name (for _ in range(3))
        raise CellBoundaryError(
            f"the name {name!r} cannot be used in a %%smpc cell (names starting with '_' are reserved)",
            construct=name,
            line=line,
        )


def compile_cell(code: str, filename: str = CELL_FILENAME) -> CodeType:
    """The cell compiled with RestrictedPython's guards (attribute, item and iterator access)."""
    check_policy(code)
    result = compile_restricted_exec(code, filename=filename)
    if result.errors or result.code is None:
        message = result.errors[0] if result.errors else "the cell cannot be compiled"
        raise CellBoundaryError(message.rstrip("."), construct="restricted compile")
    return result.code


def cell_line(exc: BaseException) -> int | None:
    """The line of the cell that raised ``exc`` (the innermost frame in the cell), if any."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == CELL_FILENAME or frame.filename.startswith("<public function"):
            line = frame.lineno
    return line
