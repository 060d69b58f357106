"""The end of a cell: open the declared outputs, only to their recipients, and collect the
secrets to keep for later cells."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import CellError
from ..protocols.base import Array
from ..secret.accuracy import check_release, error_of
from ..secret.core import SecretCore, reveal
from ..secret.frames import COLUMN_SEPARATOR, SecretFrame
from ..stats.results import FIELD_SEPARATOR, SecretResult, flatten

Released = dict[str, Any]  # name -> numpy value, or {column: values} for a frame


def release(
    namespace: Mapping[str, object],
    names: list[str],
    recipients: list[int],
    me: int,
    targeted: bool,
) -> tuple[Released | None, dict[str, list[int]]]:
    """Open ``names`` in one round to ``recipients`` (all parties unless ``targeted``); returns
    the values at a recipient (None elsewhere) and every released value's public shape.

    A statistics result (``fit``) is released field by field, flat (``fit.coef``, ...; see
    :mod:`smpc_magic.stats.results`); ``fit.coef`` alone releases only that field."""
    to_open: dict[str, SecretCore] = {}
    plain: dict[str, Array] = {}
    frames: dict[str, list[str]] = {}
    for name in names:
        base, _, field = name.partition(FIELD_SEPARATOR)
        if base not in namespace:
            raise CellError(f"--reveal {name}: the cell never assigned {base!r}")
        value = namespace[base]
        if isinstance(value, SecretResult):
            secret, public = flatten(base, value, [field] if field else None)
            to_open.update(secret)
            plain.update(public)
        elif field:
            raise CellError(f"--reveal {name}: {base!r} is not a statistics result with fields")
        elif isinstance(value, SecretCore):
            to_open[name] = value
        elif isinstance(value, SecretFrame):
            frames[name] = value.columns
            for column in value.columns:
                to_open[f"{name}{COLUMN_SEPARATOR}{column}"] = value[column]
        else:
            arr = np.asarray(value)
            if arr.dtype.kind not in "biuf":
                raise CellError(f"--reveal {name}: only numbers, secret arrays and statistics results can be released")
            plain[name] = arr
    opened = reveal(to_open, to=recipients if targeted else None) if to_open else {}
    shapes = {k: list(v.shape) for k, v in to_open.items() if COLUMN_SEPARATOR not in k}
    shapes.update({k: list(np.shape(v)) for k, v in plain.items()})
    shapes.update({f: [len(namespace[f])] for f in frames})  # type: ignore[arg-type]
    if me not in recipients:
        return None, shapes
    opened = opened or {}
    values: Released = {}
    for key in [*to_open, *plain]:
        frame, column = (key.split(COLUMN_SEPARATOR, 1) + [""])[:2] if COLUMN_SEPARATOR in key else (key, "")
        if column and frame in frames:
            values.setdefault(frame, {})[column] = opened[key]
        else:
            values[key] = plain[key] if key in plain else opened[key]
    return values, shapes


def fractional_bits(namespace: Mapping[str, object], names: list[str]) -> dict[str, int]:
    """Each released secret array's fractional bits (0 for integers): how many of its digits
    mean something, for the display."""
    return {n: int(v._scale) for n in names if isinstance(v := namespace.get(n), SecretCore)}


def check_accuracy(namespace: Mapping[str, object], names: list[str], frac_bits: int) -> None:
    """Stop the cell before anything is sent (its disclosure checks included) when a value to
    release could be off by more than a release allows. Public facts: every party stops, or none."""
    values: dict[str, object] = {}
    for name in names:
        value = namespace.get(name.partition(FIELD_SEPARATOR)[0])
        if isinstance(value, SecretFrame):
            values.update({f"{name}[{c!r}]": value[c] for c in value.columns})
        elif isinstance(value, SecretCore):
            values[name] = value
    check_release(values, frac_bits)


def error_bounds(namespace: Mapping[str, object], names: list[str]) -> dict[str, float]:
    """Each released secret array's carried absolute error (how many digits mean something);
    a statistic's fields are left out: their accuracy is the one their documentation states."""
    out = {}
    for name in names:
        value = namespace.get(name)
        if isinstance(value, SecretCore) and math.isfinite(error := error_of(value)):
            out[name] = error
    return out


def kept_secrets(namespace: Mapping[str, object], names: list[str]) -> dict[str, object]:
    """The cell's ``--keep`` names, still shared, for later cells."""
    kept = {}
    for name in names:
        if not isinstance(namespace.get(name), SecretCore | SecretFrame):
            raise CellError(f"--keep {name}: the cell did not leave a secret named {name!r}")
        kept[name] = namespace[name]
    return kept


def rebind(value: object, ctx: Any) -> object:
    """A secret kept from an earlier cell, attached to this computation's context."""
    if isinstance(value, SecretFrame):
        return SecretFrame({c: rebind(value[c], ctx) for c in value.columns})  # type: ignore[misc]
    if isinstance(value, SecretCore):
        prov = value._prov.rebound(lambda f: rebind(f, ctx), lambda r: _kept_requirement(r, ctx))
        kept = type(value)(ctx, value._share, value._scale, value._bound, prov=prov)
        kept._statistic = value._statistic
        if hasattr(value, "_serial"):
            kept._serial = value._serial  # type: ignore[attr-defined]
        return kept
    raise TypeError(f"cannot keep a {type(value).__name__}")


def _kept_requirement(requirement: Any, ctx: Any) -> Any:
    """A statistic's declared rule on a kept value, its quantity attached to this computation.
    A quantity computed only when needed (a dominance check's contributions) cannot be: the rule
    then fails closed (the value is released in the cell that computed it)."""
    value = requirement.value
    if isinstance(value, SecretCore | SecretFrame):
        return dataclasses.replace(requirement, value=rebind(value, ctx))
    if callable(value):
        return dataclasses.replace(requirement, value=_unavailable)
    return requirement


def _unavailable() -> Any:
    raise CellError(
        "a kept statistic's dominance check needs the contributions behind it, which stay in the cell that "
        "computed it: release the statistic in that cell, or turn off dominance in the policies"
    )
