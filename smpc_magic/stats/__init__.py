"""``smpc.stats``: health analyses on pooled secret data, inside %%smpc cells and under simulate.

Every function takes secret columns (a private frame, some of its columns, secret arrays) and
returns secret results; ``--reveal fit`` releases a result's documented fields. See README,
"Statistics", for the methods, their accuracy and their cost in rounds.
"""

from .crosstab import crosstab
from .descriptive import corr, cov, describe, group_mean, mean, std, var
from .linear import ols
from .logistic import logit
from .rates import exact_rate_interval, incidence_rate, rate_ratio

__all__ = [
    "corr",
    "cov",
    "crosstab",
    "describe",
    "group_mean",
    "incidence_rate",
    "logit",
    "mean",
    "ols",
    "rate_ratio",
    "std",
    "var",
]
# exact_rate_interval is for plaintext checks at a recipient, not for cells
__all__ += []
_ = exact_rate_interval
