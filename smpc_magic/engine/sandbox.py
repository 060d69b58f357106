"""Running a %%smpc cell: its names (what it reads, what it binds), the digests the sites
compare, and its execution inside the cell boundary (:mod:`.cell_policy`, :mod:`.guards`)."""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import (
    CellBoundaryError,
    CellError,
    EncodingError,
    OverflowRiskError,
    RangeNeededError,
    RangeRequiredError,
    UnknownNameError,
)
from ..secret.core import SecretCore
from ..secret.frames import SecretFrame, split_key
from ..secret.scaling import FIX
from .cell_policy import REFUSED_BUILTINS, PolicyReport, PublicFunction, cell_line, check_policy, compile_cell
from .cpu_limit import run_with_cpu_limit
from .facades import NP, SMPC
from .guards import SAFE_BUILTINS, restricted_globals
from .inputs import undeclared_limit

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

PROVIDED = {"np", "numpy", "smpc", "print"}


@dataclass(frozen=True)
class CellNames:
    used: frozenset[str]
    assigned: frozenset[str]
    policy: PolicyReport = PolicyReport({})

    @property
    def free(self) -> frozenset[str]:
        """Names the cell reads but never binds itself."""
        return self.used - self.assigned - set(SAFE_BUILTINS) - PROVIDED


def analyse(code: str) -> CellNames:
    """Parse the cell and check it against the cell language (:mod:`.cell_policy`)."""
    tree, report = check_policy(code)
    used: set[str] = set()
    assigned: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (used if isinstance(node.ctx, ast.Load) else assigned).add(node.id)
        elif isinstance(node, ast.arg):
            assigned.add(node.arg)
        elif isinstance(node, ast.FunctionDef):
            assigned.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            assigned.add(node.name)
    return CellNames(frozenset(used), frozenset(assigned), report)


def check_names(names: CellNames, private: set[str], public: set[str], extra: Set[str] = frozenset()) -> None:
    """Every free name must be private (at some party), public or otherwise provided."""
    missing = sorted(names.free - private - public - set(extra))
    refused = [name for name in missing if name in REFUSED_BUILTINS]
    if refused:
        raise CellBoundaryError(f"{refused[0]}() is not available in a %%smpc cell", construct=refused[0])
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


def public_digest(values: Mapping[str, object], salt: str) -> str:
    """A digest of the public values the sites compare, salted with the sender's nonce (so it
    cannot be looked up in a table, nor linked between computations)."""
    h = hashlib.sha256(b"smpc-public-v2\0" + salt.encode() + b"\0")
    for name in sorted(values):
        value = values[name]
        h.update(name.encode() + b"\0")
        if isinstance(value, PublicFunction):
            h.update(b"fn\0" + value.source.encode() + b"\0")
            continue
        if isinstance(value, str):
            h.update(b"str\0" + value.encode() + b"\0")
            continue
        arr = np.asarray(value)
        if arr.dtype.kind == "U":  # a list of names (columns, levels)
            h.update(b"strs\0" + repr((arr.shape, arr.tolist())).encode() + b"\0")
            continue
        if arr.dtype.kind not in "biuf":
            raise CellError(f"public value {name!r} of type {type(value).__name__} cannot be compared between sites")
        h.update(f"{arr.dtype.str}{arr.shape}".encode() + np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def run_in_sandbox(code: str, members: dict[str, Any], cpu_seconds: float | None = None) -> dict[str, Any]:
    """Execute the cell, compiled with the boundary's guards, with ``members`` (secrets, public
    values, kept secrets) plus ``np`` and ``smpc`` facades; return the cell's namespace.
    ``cpu_seconds`` bounds the CPU time of the cell's evaluation (:mod:`.cpu_limit`)."""
    functions = {k: v for k, v in members.items() if isinstance(v, PublicFunction)}
    compiled = compile_cell(code)
    namespace = restricted_globals({"np": NP, "numpy": NP, "smpc": SMPC, **members})

    def evaluate() -> None:
        for function in functions.values():  # defined afresh, with the cell's globals only
            exec(compile_cell(function.source, function.filename), namespace)  # noqa: S102
        exec(compiled, namespace)  # noqa: S102 - compiled by RestrictedPython, run with the guards

    try:
        run_with_cpu_limit(cpu_seconds, evaluate)
    except CellBoundaryError as exc:
        line = cell_line(exc)
        raise (exc.at_line(line) if line is not None and exc.line is None else exc) from None
    except Exception as exc:  # say where in the cell (a secret in an `if`, a shape mismatch, ...)
        line = cell_line(exc)
        if line is not None and exc.args and isinstance(exc.args[0], str) and not exc.args[0].startswith("line "):
            exc.args = (f"line {line} of the cell: {exc.args[0]}", *exc.args[1:])
        undeclared = _used(_without_range(members), getattr(exc, "inputs", ()))
        # what follows from a missing range (a bound beyond the ring, a public number from it too
        # large to encode, a range that does not show a sign) names that cause and the fix
        if isinstance(exc, RANGE_CONSEQUENCES) and undeclared and exc.args and isinstance(exc.args[0], str):
            message = exc.args[0]
            cause = _range_fix(undeclared)
            text = message.replace(FIX, cause) if FIX in message else f"{message}. {cause}"
            overflow = exc if isinstance(exc, OverflowRiskError) else OverflowRiskError("")
            raise RangeRequiredError(
                text, operation=overflow.operation, bound=overflow.bound, limit=overflow.limit
            ) from None
        raise
    return namespace


#: errors that a missing declared range causes (in a cell, every encoding error is a public value's)
RANGE_CONSEQUENCES = (OverflowRiskError, EncodingError, RangeNeededError)


def _used(undeclared: list[tuple[str, str, Any]], inputs: Sequence[Any]) -> list[tuple[str, str]]:
    """Of the inputs without a range, those an operation named as the ones it needed (the same
    values: an input as marked private, or a column of it), or all when it named none of them."""
    named = [
        (label, variable)
        for label, variable, part in undeclared
        if any(i is part or _same_values(i, part) for i in inputs)
    ]
    return named or [(label, variable) for label, variable, _ in undeclared]


def _same_values(a: Any, b: Any) -> bool:
    pa, pb = getattr(a, "_prov", None), getattr(b, "_prov", None)
    if pa is None or pb is None or a.shape != b.shape:
        return False
    return bool(np.array_equal(pa.pattern, pb.pattern) and np.array_equal(pa.rowid, pb.rowid))


def _without_range(members: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    """The private inputs (frame columns) whose public bound is the whole encoding: no range was
    declared for them; (how the cell names it, the variable's name, the secret)."""
    found = []
    for name, value in members.items():
        parts = (
            [(f"{name}[{c!r}]", c, value[c]) for c in value.columns]
            if isinstance(value, SecretFrame)
            else [(name, name, value)]
        )
        for label, variable, part in parts:
            if isinstance(part, SecretCore) and part.size:
                if part._bound.magnitude() >= undeclared_limit(part._ctx.suite.codec, part._scale) / 2:
                    found.append((label, variable, part))
    return found


def _range_fix(undeclared: list[tuple[str, str]]) -> str:
    """Why, and the lines to paste (MIN and MAX to be filled in) for each way of declaring that
    suits the inputs: schema lines (one per line, valid TOML), simulate's ``ranges=``, and for a
    notebook variable ``--range`` (an array) or ``--ranges-from`` a released envelope (a frame)."""
    labels = ", ".join(label for label, _ in undeclared)
    variables = [v for _, v in undeclared if "=" not in v and not v.endswith(":observed")]
    schema = "\n\n".join(f'[[variable]]\nname = "{v}"\nkind = "continuous"\nmin = MIN\nmax = MAX' for v in variables)
    ranges = ", ".join(f'"{v}": (MIN, MAX)' for v in variables)
    plain = [label for label, v in undeclared if label == v]
    frames = sorted({label.split("[", 1)[0] for label, v in undeclared if label != v})
    lines = [
        f"The cause: no range is declared for {labels}, so each value may be anything the 64-bit encoding holds. "
        "Declare [min, max] for them (MIN and MAX: public bounds every site agrees, for example 0 and 120 for ages).",
        f"In the study schema:\n\n{schema}\n",
        f"With simulate: ranges={{{ranges}}}",
    ]
    lines += [f"For the array {name}: %smpc private {name} --range MIN MAX" for name in plain]
    lines += [
        f"For the frame {name}, without guessing: release env = smpc.stats.envelope({name}) in a cell (powers of "
        f"two above each column's largest value, governed like any release), then %smpc private {name} "
        "--ranges-from env"
        for name in frames
    ]
    return "\n".join(lines)


def check_names_locally(
    reveal_names: list[str],
    keep_names: list[str],
    private: dict[str, Any],
    public: dict[str, Any],
    keep: dict[str, Any],
) -> None:
    """Names a cell's arguments use, checked before anything is sent: identifiers, no builtins,
    no name both private and public (or kept)."""
    # a statistics result's field is released as ``fit.coef``
    released = [part for name in reveal_names for part in name.split(".", 1)]
    for name in [*released, *keep_names, *(split_key(k)[0] for k in private), *public]:
        if not _IDENT.match(name) or name.startswith("_"):
            raise CellError(
                f"{name!r} is not a valid variable name for a %%smpc cell (letters, digits, '_'; not first)"
            )
        if name in REFUSED_BUILTINS:
            raise CellError(f"{name!r} is the name of a Python builtin that cells cannot use; rename the variable")
    for a, b, what in [
        (private, public, "private and public"),
        (private, keep, "private and kept"),
        (public, keep, "public and kept"),
    ]:
        overlap = set(a) & set(b)
        if overlap:
            raise CellError(f"{sorted(overlap)[0]!r} is both {what}; choose one")
