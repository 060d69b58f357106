"""Cross-tabulation of two categorical variables with Pearson's chi-square, computed securely.

The counts are one secret matrix product of the two one-hot matrices (exact integers, one
round). The statistic is sum (O - E)^2 / E with E = row total x column total / n, computed as
n (O - E)^2 / (row x column) with the product of the margins exact: no cancellation, so its
relative accuracy is that of the secret division (about 2e-5). Empty rows or columns make E zero: one public bit says whether
every margin is positive, and the statistic is refused otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import NumericalRangeError, SecretValueError, StreamedRowsError
from ..secret.array import SecretArray
from ..secret.frames import SecretFrame
from ..secret.functions import divide
from ..secret.precision import claim_bound, public_bound, working_precision
from ..secret.streamed import ONES, streamed_parts
from .checks import require_none
from .design import columns, variable_name
from .disclosure import COUNT, LEVELS, ROWS, Requirement, declare
from .missing import rows_observed, secret_values
from .results import ReleasedResult, SecretResult
from .summary import Table

WORKING_BITS = 24


class Crosstab(SecretResult):
    KIND = "crosstab"
    SECRET = ("counts", "chi2")
    PUBLIC = ("levels_a", "levels_b", "dof", "name_a", "name_b")


def one_hot(x: Any, levels: list[str] | None, what: str) -> tuple[SecretArray, list[str]]:
    """A categorical variable as a secret n x L one-hot matrix and its level names."""
    if isinstance(x, SecretFrame) or (isinstance(x, SecretArray) and x.ndim == 2):
        cols, names = columns(x, what, "level")
        return np.column_stack(cols), list(levels or names)  # type: ignore[return-value]
    if isinstance(x, SecretArray) and x.ndim == 1:
        lo, hi = public_bound(x)
        if levels is None and float(lo.min()) >= 0 and float(hi.max()) <= 1:
            return np.column_stack([1 - x, x]), ["0", "1"]  # type: ignore[return-value]
        if levels is None:
            raise SecretValueError(
                f"{what}: the levels of a coded variable are not known from its declared range "
                f"({float(lo.min()):g} to {float(hi.max()):g}); give them (levels_a=, levels_b=: the k-th name is "
                "the code k), or pass a frame's categorical columns (df.categorical('v'))"
            )
        codes = np.arange(len(levels))
        matches = x[:, None] == codes[None, :]  # one comparison batch: is the code k?
        return matches, list(levels)
    raise SecretValueError(
        f"{what}: give a frame's categorical columns (df.categorical('v')), a one-hot matrix or codes"
    )


def _streamed_counts(a: Any, b: Any, levels_a: Any, levels_b: Any, what: str) -> tuple[Any, list[str], list[str]]:
    """The counts of two categorical variables of rows read in blocks, from one pass at each site."""
    parts_a, parts_b = streamed_parts(a), streamed_parts(b)
    if parts_a is None or parts_b is None or parts_a[0] is not parts_b[0]:
        frame = (parts_a or parts_b)[0].name  # type: ignore[index]
        raise StreamedRowsError.about(frame, f"{what} needs both variables from the same rows")
    frame = parts_a[0]
    (keys_a, names_a, single_a), (keys_b, names_b, single_b) = _level_keys(parts_a), _level_keys(parts_b)
    counts: Any = frame.counts(keys_a, keys_b)
    if single_a:  # rows [all, x=1]: level 0 is their difference
        counts = np.concatenate([counts[0:1] - counts[1:2], counts[1:2]], axis=0)
    if single_b:
        counts = np.concatenate([counts[:, 0:1] - counts[:, 1:2], counts[:, 1:2]], axis=1)
    return claim_bound(counts, 0.0, float(frame.n_rows)), list(levels_a or names_a), list(levels_b or names_b)


def _level_keys(parts: Any) -> tuple[list[str], list[str], bool]:
    _, cols, names = parts
    if len(cols) == 1:  # a single 0/1 column: levels 0 and 1
        return [ONES, cols[0].name], ["0", "1"], True
    return [c.name for c in cols], list(names), False


def crosstab(a: Any, b: Any, *, levels_a: list[str] | None = None, levels_b: list[str] | None = None) -> Crosstab:
    """Counts of each pair of levels (``.counts``, levels_a x levels_b) and Pearson's chi-square
    without continuity correction (``.chi2``, with ``dof`` degrees of freedom)."""
    what = "smpc.stats.crosstab"
    kept = None  # the rows left out (missing values, a filter): none for rows read in blocks
    if streamed_parts(a) is not None or streamed_parts(b) is not None:
        counts, names_a, names_b = _streamed_counts(a, b, levels_a, levels_b, what)
        n = len(a)
    else:
        left, names_a = one_hot(a, levels_a, what)
        right, names_b = one_hot(b, levels_b, what)
        n = left.shape[0]
        kept = rows_observed(list(secret_values([a, b])), n, what)  # missing values, a filter
        if kept is not None:
            left = left * kept[:, None]  # one round: a row left out is in no cell
        counts = claim_bound(left.T @ right, 0.0, float(n))
    rows, cols = counts.sum(axis=1), counts.sum(axis=0)
    empty = (np.concatenate([rows, cols]) < 0.5).sum()
    require_none(
        empty,
        NumericalRangeError(
            f"{what}: a level of one variable never occurs, so the chi-square statistic is undefined "
            "(nothing was released). Leave that level out or merge it with another."
        ),
    )
    dof = (len(names_a) - 1) * (len(names_b) - 1)
    top = float(n) * min(len(names_a) - 1, len(names_b) - 1)  # chi2 <= n (min(levels) - 1)
    with working_precision(counts, WORKING_BITS):
        margins = claim_bound(rows[:, None] * cols[None, :], 1.0, float(n) * n)  # exact integers
        if kept is None:
            total: Any = n
            deviation = counts - margins / n  # O - E
        else:  # the rows in the table: a secret count
            total = claim_bound(rows.sum() * 1.0, 1.0, float(n))
            deviation = counts - divide(margins * 1.0, total + margins * 0, known=(0.0, float(n)))
        # (O - E)^2 / E = (O - E)^2 / (row x column) * total; each term is at most chi2's bound
        terms = divide(deviation * deviation, margins, known=(0.0, top / n)) * total
        chi2 = claim_bound(terms.sum(), 0.0, top)
    table = Crosstab(
        counts=counts,
        chi2=chi2,
        levels_a=np.array(names_a),
        levels_b=np.array(names_b),
        dof=dof,
        name_a=variable_name(a),
        name_b=variable_name(b),
    )
    return declare(
        table,
        Requirement(COUNT, counts),  # the chi-square too: it is a function of the cells
        Requirement(ROWS, n if kept is None else kept.sum()),
        Requirement(LEVELS, max(len(names_a), len(names_b))),
        covers=(a, b),
    )


class CrosstabResult(ReleasedResult):
    KIND = "crosstab"

    @property
    def pvalue(self) -> float:
        from scipy import stats as dist

        return float(dist.chi2.sf(self.chi2, self.dof))

    def table(self) -> Table:
        a = [str(v) for v in np.atleast_1d(self.fields["levels_a"])]
        b = [str(v) for v in np.atleast_1d(self.fields["levels_b"])]
        if self.has("counts"):
            counts = np.asarray(self.counts)
            rows = [[level, *(str(int(round(float(c)))) for c in counts[i])] for i, level in enumerate(a)]
        else:
            rows = [[level, *([""] * len(b))] for level in a]
        note = (
            f"Pearson chi2 = {self.chi2:.4f}, dof = {int(self.dof)}, p = {self.pvalue:.4g}" if self.has("chi2") else ""
        )
        name_a, name_b = (str(self.fields.get(f, "")) for f in ("name_a", "name_b"))
        of = f" of {name_a or 'rows'} by {name_b or 'columns'}" if name_a or name_b else ""
        corner = f"{name_a} \\ {name_b}" if name_a and name_b else name_a
        return Table(f"Cross-tabulation{of} (secure, pooled)", [corner, *b], rows, note)
