"""pandas support: private DataFrames and Series, and the SecretFrame a cell sees.

Column names and row counts are public; values are secret. Each column is shared as its own
input (keyed ``frame/column``) so integer and boolean columns stay exact; a frame marked private
by several sites with the same columns is pooled column by column.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from ..errors import EncodingError, SecretValueError
from .core import SECRET_HINT
from .core import SecretCore as SecretArray

COLUMN_SEPARATOR = "/"


def is_dataframe(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and hasattr(value, "columns") and hasattr(value, "to_numpy")


def _is_series(value: Any) -> bool:
    return type(value).__name__ == "Series" and hasattr(value, "to_numpy") and hasattr(value, "index")


def flatten_private(name: str, value: Any) -> dict[str, np.ndarray]:
    """The inputs one private variable contributes: one per DataFrame column, else one array."""
    if is_dataframe(value):
        out = {}
        for column in value.columns:
            label = str(column)
            if not label or COLUMN_SEPARATOR in label or len(label) > 200 or not label.isprintable():
                raise EncodingError(
                    f"column {label!r} of private frame {name!r} needs a short printable name without '/'"
                )
            arr = value[column].to_numpy()
            if arr.dtype.kind not in "biuf":
                raise EncodingError(
                    f"column {label!r} of private frame {name!r} has dtype {value[column].dtype}; only numeric and "
                    "boolean columns can be secret. Encode categories as 0/1 indicator columns first."
                )
            out[f"{name}{COLUMN_SEPARATOR}{label}"] = arr
        if not out:
            raise EncodingError(f"private frame {name!r} has no columns")
        return out
    if _is_series(value):
        return {name: np.asarray(value.to_numpy())}
    return {name: np.asarray(value)}


def split_key(key: str) -> tuple[str, str | None]:
    """``frame/column`` -> (frame, column); a plain name -> (name, None)."""
    if COLUMN_SEPARATOR in key:
        frame, column = key.split(COLUMN_SEPARATOR, 1)
        return frame, column
    return key, None


class SecretFrame:
    """Secret columns with public names and a public row count (a DataFrame's secure twin)."""

    def __init__(self, columns: dict[str, SecretArray]) -> None:
        self._columns = dict(columns)
        lengths = {len(c) for c in self._columns.values()}
        if len(lengths) > 1:
            raise ValueError("all columns of a frame must have the same number of rows")

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self), len(self._columns))

    def __len__(self) -> int:
        return len(next(iter(self._columns.values()))) if self._columns else 0

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            if key not in self._columns:
                raise KeyError(f"no column {key!r}; columns are {self.columns}")
            return self._columns[key]
        if isinstance(key, list) and all(isinstance(k, str) for k in key):
            return SecretFrame({k: self[k] for k in key})
        raise SecretValueError("select frame columns by name (df['age'] or df[['age', 'bmi']]); rows by df['col'][...]")

    def __getattr__(self, name: Any) -> Any:
        columns = self.__dict__.get("_columns", {})
        if name in columns:
            return columns[name]
        raise AttributeError(name)

    def __contains__(self, key: Any) -> bool:
        return key in self._columns

    def to_numpy(self) -> SecretArray:
        """All columns as one secret matrix (rows x columns)."""
        return cast(SecretArray, np.column_stack([c for c in self._columns.values()]))

    @property
    def values(self) -> SecretArray:
        return self.to_numpy()

    def sum(self, axis: Any = 0) -> SecretArray:
        return self.to_numpy().sum(axis=axis)

    def mean(self, axis: Any = 0) -> SecretArray:
        return self.to_numpy().mean(axis=axis)

    def __repr__(self) -> str:
        n = next(iter(self._columns.values()))._ctx.n_parties if self._columns else 0
        return f"<SecretFrame {len(self)} rows x {len(self._columns)} columns {self.columns}, shared among {n} parties>"

    def __bool__(self) -> Any:
        raise SecretValueError(f"'if' on a secret frame needs its plain values. {SECRET_HINT}")

    def __str__(self) -> Any:
        raise SecretValueError(f"printing a secret frame needs its plain values. {SECRET_HINT}")

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        raise SecretValueError(f"converting a secret frame to numpy needs its plain values. {SECRET_HINT}")
