"""Released categorical results back to their labels, in plaintext at the recipient."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import SmpcError


def labels(released: object, levels: Sequence[str]) -> np.ndarray:
    """Labels for a released level index (``frame.level_index(v)``) or one-hot matrix
    (``frame.one_hot(v)``); rows that were missing (all-zero one-hot) become ``None``."""
    values = np.asarray(released, dtype=np.float64)
    names = np.array(list(levels) + [None], dtype=object)
    if values.ndim == 2:
        if values.shape[1] != len(levels):
            raise SmpcError(f"a one-hot matrix with {values.shape[1]} columns for {len(levels)} levels")
        index = np.rint(values).astype(np.int64)
        if ((index != 0) & (index != 1)).any() or (index.sum(axis=1) > 1).any():
            raise SmpcError("not a one-hot matrix: each row needs at most one 1 and otherwise 0")
        position = np.where(index.any(axis=1), index.argmax(axis=1), len(levels))
        return names[position]
    index = np.rint(values).astype(np.int64)
    if (index < 0).any() or (index >= len(levels)).any() or (np.abs(values - index) > 0.25).any():
        raise SmpcError(f"a level index must be a whole number from 0 to {len(levels) - 1}")
    return names[index]
