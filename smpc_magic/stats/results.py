"""Results of the statistics: secret inside a cell, plain at the recipients after release.

A secure method returns a :class:`SecretResult`: its documented fields are secret arrays (or
public facts such as the row count and the column names). ``--reveal fit`` opens every secret
field, ``--reveal fit.coef, fit.se`` only those; the recipients get a :class:`ReleasedResult`
of the same kind whose ``summary()`` (and rich display) is a statsmodels-like table, with
quantities that are public functions of the released values (t statistics, p-values,
confidence intervals) computed there, in plaintext.

On the way (a worker's result file, the release message) a result travels flat: one array per
field, keyed ``fit.coef``, with ``fit.__kind__`` naming the kind; :func:`assemble` regroups it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..errors import CellError
from ..secret.accuracy import stated_by_statistic
from ..secret.core import SecretCore

KIND_KEY = "__kind__"
FIELD_SEPARATOR = "."


class SecretResult:
    """A method's result inside a cell: secret fields, public facts, nothing opened yet."""

    _kinds: ClassVar[list[type[SecretResult]]] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        SecretResult._kinds.append(cls)

    KIND: ClassVar[str] = ""
    SECRET: ClassVar[tuple[str, ...]] = ()  # opened by --reveal
    PUBLIC: ClassVar[tuple[str, ...]] = ()  # public facts that travel with it
    METHODS: ClassVar[tuple[str, ...]] = ()  # callable in a cell (e.g. predict)

    def __init__(self, **values: Any) -> None:
        unknown = set(values) - set(self.SECRET) - set(self.PUBLIC)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        for name in self.SECRET:
            _stated_accuracy(values.get(name))
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:  # only reached for names that are not fields
        raise AttributeError(
            f"a {self.KIND} result has no field {name!r}; its fields are {', '.join(self.SECRET + self.PUBLIC)}"
        )

    @classmethod
    def cell_attributes(cls) -> frozenset[str]:
        return frozenset(cls.SECRET + cls.PUBLIC + cls.METHODS)

    def secret_fields(self, only: list[str] | None = None) -> dict[str, Any]:
        names = list(self.SECRET) if only is None else only
        for name in names:
            if name not in self.SECRET:
                raise CellError(
                    f"--reveal: {name!r} is not a field of a {self.KIND} result; its fields are {', '.join(self.SECRET)}"
                )
        return {name: getattr(self, name) for name in names}

    def public_fields(self) -> dict[str, np.ndarray]:
        return {name: np.asarray(getattr(self, name)) for name in self.PUBLIC}

    def __repr__(self) -> str:
        return f"<secret {self.KIND} result: {', '.join(self.SECRET)} (release with --reveal)>"


def _stated_accuracy(value: Any) -> None:
    """A field's error is the one its statistic states (an interval bound through Newton steps
    would grow without meaning); arithmetic on the field carries it on."""
    if isinstance(value, SecretCore):
        stated_by_statistic(value)


def result_attributes() -> frozenset[str]:
    """Every field and method name of every kind of result (what a cell may read on one);
    importing :mod:`smpc_magic.stats` has registered every kind."""
    return frozenset().union(*(cls.cell_attributes() for cls in SecretResult._kinds))


class ReleasedResult:
    """A result at a recipient: plain numpy fields (those released) and a summary table."""

    KIND: ClassVar[str] = ""
    _registry: ClassVar[dict[str, type[ReleasedResult]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.KIND:
            ReleasedResult._registry[cls.KIND] = cls

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self.fields = {k: (np.asarray(v) if not isinstance(v, np.ndarray) else v) for k, v in fields.items()}

    def __getattr__(self, name: str) -> Any:
        fields = self.__dict__.get("fields", {})
        if name in fields:
            value = fields[name]
            return value.item() if value.ndim == 0 and value.dtype.kind in "biuf" else value
        raise AttributeError(f"{name!r} was not released (or is not a field of a {self.KIND} result)")

    def has(self, *names: str) -> bool:
        return all(n in self.fields for n in names)

    def table(self) -> Any:
        """The result as a :class:`~smpc_magic.stats.summary.Table` (None: no tabular form)."""
        return None

    def summary(self) -> str:
        table = self.table()
        if table is not None:
            return str(table.text())
        return "\n".join(f"{k}: {v}" for k, v in self.fields.items())

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        """An HTML table in a notebook (a text block for results without a tabular form)."""
        import html

        table = self.table()
        return str(table.html()) if table is not None else f"<pre>{html.escape(self.summary())}</pre>"


def flatten(name: str, result: SecretResult, only: list[str] | None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(secret fields to open, public fields) keyed ``name.field``, with ``name.__kind__``."""
    secret = {f"{name}{FIELD_SEPARATOR}{k}": v for k, v in result.secret_fields(only).items()}
    public = {f"{name}{FIELD_SEPARATOR}{k}": v for k, v in result.public_fields().items()}
    public[f"{name}{FIELD_SEPARATOR}{KIND_KEY}"] = np.asarray(result.KIND)
    return secret, public


def assemble(values: Mapping[str, Any]) -> dict[str, Any]:
    """Flat released values with results regrouped into :class:`ReleasedResult` objects."""
    out: dict[str, Any] = {}
    grouped: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        if FIELD_SEPARATOR in key:
            parent, field = key.split(FIELD_SEPARATOR, 1)
            grouped.setdefault(parent, {})[field] = value
        else:
            out[key] = value
    for parent, fields in grouped.items():
        kind = str(np.asarray(fields.pop(KIND_KEY, "")))
        cls = ReleasedResult._registry.get(kind, ReleasedResult)
        out[parent] = cls(fields)
    return out
