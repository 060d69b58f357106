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
LEVEL_SEPARATOR = "="  # a categorical variable's level columns: ``drug=warfarin``
OBSERVED_SUFFIX = ":observed"  # 1 where a variable that may be missing is present: ``bmi:observed``


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
                    "boolean columns can be secret. Declare it as a categorical variable with its levels in the study "
                    "schema (it then becomes one 0/1 column per level), or drop the column."
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


def levels_in(columns: list[str], variable: str) -> list[str]:
    """The levels of a categorical variable from a frame's column names (``drug=warfarin``...)."""
    prefix = f"{variable}{LEVEL_SEPARATOR}"
    found = [c[len(prefix) :] for c in columns if c.startswith(prefix)]
    if not found:
        raise KeyError(f"no categorical variable {variable!r} in this frame; columns are {columns}")
    return found


class SecretFrame:
    """Secret columns with public names and a public row count (a DataFrame's secure twin)."""

    def __init__(self, columns: dict[str, SecretArray], filtered: bool = False) -> None:
        self._columns = dict(columns)
        for name, column in self._columns.items():  # (public: what tables call the variable)
            if isinstance(getattr(column, "__dict__", None), dict):
                column.__dict__.setdefault("_name", name)
        lengths = {len(c) for c in self._columns.values()}
        if len(lengths) > 1:
            raise ValueError("all columns of a frame must have the same number of rows")
        #: rows chosen by a secret filter (``cohort[mask]``): how many is secret
        self._filtered = filtered

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self), len(self._columns))

    def __len__(self) -> int:
        if self._filtered:
            raise SecretValueError(
                "how many rows a secret filter keeps is secret: count them with mask.sum() (a count, released "
                "under the policies' rules), or use smpc.stats, which leaves the other rows out"
            )
        return self._rows()

    def _rows(self) -> int:
        return len(next(iter(self._columns.values()))) if self._columns else 0

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, np.ndarray) and key.dtype.kind == "U":  # a public list of names
            key = [str(k) for k in key.reshape(-1)]
        if isinstance(key, str):
            if key not in self._columns:
                raise KeyError(f"no column {key!r}; columns are {self.columns}")
            return self._columns[key]
        if isinstance(key, list | tuple) and all(isinstance(k, str) for k in key):
            return SecretFrame({k: self[k] for k in key}, self._filtered)
        if isinstance(key, SecretArray):
            return SecretFrame({c: v[key] for c, v in self._columns.items()}, filtered=True)
        raise SecretValueError(
            "select frame columns by name (df['age'] or df[['age', 'bmi']]) and rows by a secret 0/1 filter "
            "(df[df['age'] > 65], df.loc[df['age'] > 65, ['bmi']]); a row by position: df['col'][i]"
        )

    @property
    def loc(self) -> _Locator:
        """``frame.loc[mask]``, ``frame.loc[mask, columns]``: rows by a secret 0/1 filter."""
        return _Locator(self)

    def __getattr__(self, name: Any) -> Any:
        columns = self.__dict__.get("_columns", {})
        if name in columns:
            return columns[name]
        raise AttributeError(name)

    def __contains__(self, key: Any) -> bool:
        return key in self._columns

    def levels(self, variable: str) -> list[str]:
        """The declared levels of a categorical variable, in schema order (public)."""
        return levels_in(self.columns, variable)

    def categorical(self, variable: str) -> SecretFrame:
        """A categorical variable's 0/1 level columns, named by level (for crosstabs and groups)."""
        levels = SecretFrame(
            {level: self._columns[f"{variable}{LEVEL_SEPARATOR}{level}"] for level in self.levels(variable)}
        )
        levels.__dict__["_variable"] = variable  # (public: what tables call it)
        return levels

    def one_hot(self, variable: str) -> SecretArray:
        """A categorical variable as a secret rows x levels matrix of 0/1 (a missing value: all 0)."""
        frame: SecretFrame = self[[f"{variable}{LEVEL_SEPARATOR}{level}" for level in self.levels(variable)]]
        return frame.to_numpy()

    def level_index(self, variable: str) -> SecretArray:
        """A categorical variable as the secret position of each row's level in :meth:`levels`;
        ``smpc_magic.labels(released, levels)`` turns a released index back into labels."""
        levels = self.levels(variable)
        return self.one_hot(variable) @ np.arange(len(levels), dtype=np.int64)

    def observed(self, variable: str) -> SecretArray:
        """1 where ``variable`` is present, 0 where it is missing (for variables the schema
        allows to be missing); rows of a variable that may not be missing are all observed."""
        return self._columns[f"{variable}{OBSERVED_SUFFIX}"]

    def complete_cases(self, variables: list[str] | None = None) -> SecretArray:
        """1 for rows where every one of ``variables`` (default: all that may be missing) is present."""
        if variables is None:
            names = [c for c in self._columns if c.endswith(OBSERVED_SUFFIX)]
        else:
            names = [f"{v}{OBSERVED_SUFFIX}" for v in variables if f"{v}{OBSERVED_SUFFIX}" in self._columns]
        if not names:
            raise KeyError("no column of this frame may be missing, so every row is complete")
        mask = self._columns[names[0]]
        for name in names[1:]:
            mask = mask * self._columns[name]
        return mask

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
        rows = "a secret number of" if self._filtered else str(self._rows())
        return f"<SecretFrame {rows} rows x {len(self._columns)} columns {self.columns}, shared among {n} parties>"

    def __bool__(self) -> Any:
        raise SecretValueError(f"'if' on a secret frame needs its plain values. {SECRET_HINT}")

    def __str__(self) -> Any:
        raise SecretValueError(f"printing a secret frame needs its plain values. {SECRET_HINT}")

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        raise SecretValueError(f"converting a secret frame to numpy needs its plain values. {SECRET_HINT}")

    def _arithmetic(self, *_: Any) -> Any:
        raise SecretValueError(
            "arithmetic on a whole secret frame is not defined: keep rows with a filter (cohort[mask], "
            "cohort.loc[mask, ['age', 'bmi']], or a statistic's where=mask), or compute with its columns "
            "(cohort['age'] * mask, cohort[['age', 'bmi']].to_numpy() * 2)"
        )

    __mul__ = __rmul__ = __add__ = __radd__ = __sub__ = __rsub__ = _arithmetic
    __truediv__ = __rtruediv__ = __pow__ = __neg__ = __matmul__ = __rmatmul__ = _arithmetic

    def __array_ufunc__(self, *_: Any, **__: Any) -> Any:  # np.log(frame): the same clear error
        return self._arithmetic()


class _Locator:
    """``frame.loc``: rows by a secret 0/1 filter, optionally with columns by name."""

    def __init__(self, frame: SecretFrame) -> None:
        self._frame = frame

    def __getitem__(self, key: Any) -> Any:
        rows, cols = key if isinstance(key, tuple) and len(key) == 2 else (key, None)
        if not isinstance(rows, SecretArray) and not (isinstance(rows, slice) and rows == slice(None)):
            raise SecretValueError("frame.loc takes a secret 0/1 row filter (or :) and column names")
        frame = self._frame if isinstance(rows, slice) else self._frame[rows]
        return frame if cols is None else frame[cols]
