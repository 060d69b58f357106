"""What a secret refuses: every use that would need its plain value (``if``, ``float()``,
printing, indexing with it) raises :class:`SecretValueError` saying what to do instead."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import SecretValueError
from ..protocols.base import Array

SECRET_HINT = (
    "Secrets cannot be branched on, converted to plain numbers or printed inside a %%smpc cell. "
    "Compute on them with arithmetic (and smpc.where for choices), then release only the final "
    "result with --reveal NAME."
)


class RefusesPlaintext:
    """Mixin for secret arrays: the plaintext conversions Python would otherwise try."""

    def _refuse(self, what: str) -> Any:
        raise SecretValueError(f"{what} needs the plain value of a secret. {SECRET_HINT}")

    def __bool__(self) -> bool:
        return bool(self._refuse("'if'/'while'/'and'/'or'/bool() on a secret"))

    def __float__(self) -> float:
        return float(self._refuse("float() of a secret"))

    def __int__(self) -> int:
        return int(self._refuse("int() of a secret"))

    def __index__(self) -> int:
        return int(self._refuse("using a secret as an index"))

    def __complex__(self) -> complex:
        return complex(self._refuse("complex() of a secret"))

    def __str__(self) -> str:
        return str(self._refuse("printing a secret (print/str/f-string)"))

    def __format__(self, spec: str) -> str:
        return str(self._refuse("formatting a secret"))

    def __array__(self, dtype: Any = None, copy: Any = None) -> Array:
        return np.asarray(
            self._refuse(
                "converting a secret to a numpy array (np.array([...]) of secrets included; to combine "
                "secrets into one secret array use np.stack, np.concatenate or np.column_stack)"
            )
        )
