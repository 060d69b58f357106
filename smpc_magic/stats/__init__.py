"""``smpc.stats``: health analyses on pooled secret data, inside %%smpc cells and under simulate.

Every function takes secret columns (a private frame, some of its columns, secret arrays) and
returns secret results; ``--reveal fit`` releases a result's documented fields. See README,
"Statistics", for the methods, their accuracy and their cost in rounds.
"""

from . import disclosure as _disclosure
from .bayes import categorical_nb, gaussian_nb
from .cox import coxph
from .crosstab import crosstab
from .descriptive import corr, cov, describe, group_mean, mean, std, var
from .envelope import envelope
from .linear import ols
from .logistic import logit
from .poisson import poisson
from .quantiles import median, quantile
from .rates import exact_rate_interval, incidence_rate, rate_ratio
from .stratified import mantel_haenszel
from .survival import kaplan_meier, logrank
from .weighting import propensity_weights

__all__ = [
    "categorical_nb",
    "corr",
    "cov",
    "coxph",
    "crosstab",
    "describe",
    "envelope",
    "gaussian_nb",
    "group_mean",
    "incidence_rate",
    "kaplan_meier",
    "logit",
    "logrank",
    "mantel_haenszel",
    "mean",
    "median",
    "ols",
    "poisson",
    "propensity_weights",
    "quantile",
    "rate_ratio",
    "std",
    "var",
]
# each public statistic drops the selections it makes itself (its declared rules cover them)
for _name in __all__:
    globals()[_name] = _disclosure.statistic(globals()[_name])

# not for cells: plaintext helpers at a recipient
PLAINTEXT_HELPERS = {"exact_rate_interval": exact_rate_interval}
