"""``smpc.stats``: health analyses on pooled secret data, inside %%smpc cells and under simulate."""

from .linear import ols

__all__ = ["ols"]
