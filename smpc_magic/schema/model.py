"""The study schema: the harmonised variables every site agreed on, as a TOML file.

For each variable: its name, kind (continuous, integer, binary or categorical), unit and
description, a range [min, max] for numeric variables, the levels of a categorical one, and
whether missing values are allowed. Sites check their data against it before anything is
shared; its digest is what sites compare.

    [study]
    name = "diabetes-cohort"
    version = 1

    [[variable]]
    name = "age"
    kind = "integer"
    unit = "years"
    min = 18
    max = 110
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SchemaError

KINDS = ("continuous", "integer", "binary", "categorical")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_FIELDS = {"name", "kind", "unit", "description", "min", "max", "levels", "missing"}


@dataclass(frozen=True)
class Variable:
    name: str
    kind: str
    unit: str = ""
    description: str = ""
    min: float | None = None
    max: float | None = None
    levels: tuple[str, ...] = ()
    missing: bool = False

    @property
    def bound(self) -> float | None:
        """The largest magnitude a value may have (None for categorical variables)."""
        if self.kind == "binary":
            return 1.0
        if self.min is None or self.max is None:
            return None
        return max(abs(self.min), abs(self.max))


@dataclass(frozen=True)
class StudySchema:
    name: str
    version: int
    variables: tuple[Variable, ...] = field(default_factory=tuple)
    #: columns it does not declare are allowed (ranges declared for some columns, no study schema)
    open_columns: bool = False

    def variable(self, name: str) -> Variable | None:
        return next((v for v in self.variables if v.name == name), None)

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variables]

    @property
    def digest(self) -> str:
        """What sites compare: every rule of every variable, in order."""
        doc: dict[str, object] = {
            "name": self.name,
            "version": self.version,
            "variables": [asdict(v) for v in self.variables],
        }
        if self.open_columns:
            doc["open_columns"] = True
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def with_ranges(base: StudySchema | None, ranges: dict[str, tuple[float, float]]) -> StudySchema:
    """``base`` (or an empty study) with these variables declared continuous in [min, max].
    Without a study schema, columns not named stay undeclared (no range), not errors."""
    declared = [
        _variable({"name": var, "kind": "continuous", "min": float(lo), "max": float(hi)}, "ranges")
        for var, (lo, hi) in ranges.items()
    ]
    kept = tuple(v for v in (base.variables if base else ()) if v.name not in ranges)
    if base is None:
        return StudySchema("declared ranges", 1, tuple(declared), open_columns=True)
    return StudySchema(base.name, base.version, kept + tuple(declared), base.open_columns)


def parse_schema(text: str, where: str = "the schema") -> StudySchema:
    """A schema from TOML text, every rule checked; :class:`SchemaError` names what is wrong."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SchemaError(f"{where} is not valid TOML: {exc}") from None
    study = doc.get("study", {})
    if not isinstance(study, dict) or not isinstance(study.get("name", ""), str):
        raise SchemaError(f"{where}: [study] needs a name")
    version = study.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        raise SchemaError(f"{where}: [study] version must be a whole number")
    raw = doc.get("variable", [])
    if not isinstance(raw, list) or not raw:
        raise SchemaError(f"{where} declares no [[variable]]")
    variables = tuple(_variable(item, where) for item in raw)
    names = [v.name for v in variables]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise SchemaError(f"{where} declares {duplicated[0]!r} twice")
    open_columns = study.get("open_columns", False)
    if not isinstance(open_columns, bool):
        raise SchemaError(f"{where}: [study] open_columns must be true or false")
    return StudySchema(str(study.get("name", "")), version, variables, open_columns)


def _variable(item: Any, where: str) -> Variable:
    if not isinstance(item, dict):
        raise SchemaError(f"{where}: every [[variable]] must be a table")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise SchemaError(f"{where}: variable name {name!r} must be letters, digits or '_' (a letter first)")
    here = f"{where}, variable {name!r}"
    unknown = sorted(set(item) - _FIELDS)
    if unknown:
        raise SchemaError(f"{here}: unknown field {unknown[0]!r} (fields: {', '.join(sorted(_FIELDS))})")
    kind = item.get("kind")
    if kind not in KINDS:
        raise SchemaError(f"{here}: kind must be one of {', '.join(KINDS)} (got {kind!r})")
    for text_field in ("unit", "description"):
        if not isinstance(item.get(text_field, ""), str):
            raise SchemaError(f"{here}: {text_field} must be text")
    if not isinstance(item.get("missing", False), bool):
        raise SchemaError(f"{here}: missing must be true or false")
    low, high = item.get("min"), item.get("max")
    levels = item.get("levels", [])
    if kind == "categorical":
        if low is not None or high is not None:
            raise SchemaError(f"{here}: a categorical variable has levels, not min/max")
        if not isinstance(levels, list) or len(levels) < 2 or not all(isinstance(x, str) and x for x in levels):
            raise SchemaError(f"{here}: a categorical variable needs at least two levels (text)")
        if len(set(levels)) != len(levels):
            raise SchemaError(f"{here}: its levels repeat")
    else:
        if levels:
            raise SchemaError(f"{here}: only categorical variables have levels")
        if kind in ("continuous", "integer") and (low is None or high is None):
            raise SchemaError(f"{here}: a {kind} variable needs min and max (its range at every site)")
        for value, label in ((low, "min"), (high, "max")):
            if value is not None and (
                not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value)
            ):
                raise SchemaError(f"{here}: {label} must be a finite number")
        if low is not None and high is not None and low > high:
            raise SchemaError(f"{here}: min {low} is above max {high}")
    return Variable(
        name,
        kind,
        item.get("unit", ""),
        item.get("description", ""),
        None if low is None else float(low),
        None if high is None else float(high),
        tuple(levels),
        item.get("missing", False),
    )


def load_schema(path: str | os.PathLike[str]) -> StudySchema:
    path = Path(path)
    if not path.exists():
        raise SchemaError(f"schema file {path} does not exist; draft one with `smpc schema draft DATAFILE`")
    return parse_schema(path.read_text(), str(path))


def dump_schema(schema: StudySchema) -> str:
    """TOML text for a schema (what ``smpc schema draft`` writes for analysts to edit)."""
    lines = ["[study]", f"name = {json.dumps(schema.name)}", f"version = {schema.version}"]
    lines += ["open_columns = true", ""] if schema.open_columns else [""]
    for v in schema.variables:
        lines += ["[[variable]]", f"name = {json.dumps(v.name)}", f"kind = {json.dumps(v.kind)}"]
        lines += [f"unit = {json.dumps(v.unit)}", f"description = {json.dumps(v.description)}"]
        if v.min is not None:
            lines.append(f"min = {_number(v.min)}")
        if v.max is not None:
            lines.append(f"max = {_number(v.max)}")
        if v.levels:
            lines.append(f"levels = {json.dumps(list(v.levels))}")
        lines += [f"missing = {'true' if v.missing else 'false'}", ""]
    return "\n".join(lines)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
