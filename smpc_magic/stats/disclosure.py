"""What each statistic declares for disclosure control: which of a site policy's rules apply
to which of its fields, and the (secret or public) quantities the rules are checked on.

The engine (:mod:`smpc_magic.governance.disclosure`) checks them securely on the pooled data
before anything is released. A quantity may be a thunk (a function of no arguments) so that
what only one rule needs (the contributions behind a dominance check) is computed only when a
policy turns that rule on.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from ..errors import MissingValuesError, PrecisionError, SecretValueError
from ..secret.accuracy import beyond_tolerance, stated_by_statistic
from ..secret.compare import next_serial
from ..secret.core import SecretCore
from ..secret.frames import SecretFrame
from ..secret.provenance import NONE, inside_statistic
from ..secret.streamed import STREAMED_TYPES
from .missing import observed_columns, refuse_missing, schema_columns, secret_values, variables

#: released counts and table cells: each is 0 (if zeros are allowed) or at least ``min_count``
COUNT = "min_count"
#: the rows behind a statistic (per group: an empty group releases nothing): at least ``min_rows``
ROWS = "min_rows"
#: a model's parameters: at most ``max_parameter_ratio`` x its rows
PARAMETERS = "max_parameter_ratio"
#: the largest ``dominance_k`` contributions: at most ``dominance_share`` of a released sum
DOMINANCE = "dominance"
#: a released table's or grouping's levels: at most ``max_levels``
LEVELS = "max_levels"
#: a value of one row (a minimum, a maximum): only where the policies allow row-level values
ROW_VALUE = "row_level"
#: a column's coarse public envelope (smpc.stats.envelope): only where the policies allow them
ENVELOPE = "envelopes"
#: a statistic over rows that combine data of several sites (columns of the same patients at
#: two sites): only where every policy allows it, since a site chooses its own column
VERTICAL = "vertical"

#: set on smpc.stats.propensity_weights' result: the weights a statistic's weights= accepts
WEIGHTS_MARKER = "_propensity_weights"

RULES = (COUNT, ROWS, PARAMETERS, DOMINANCE, LEVELS, ROW_VALUE, ENVELOPE, VERTICAL)


@dataclass(frozen=True)
class Requirement:
    """One rule over one quantity, guarding ``fields`` of a result (all of them when empty).

    ``value``: COUNT — the counts; ROWS and PARAMETERS — the rows (a number, or per group);
    DOMINANCE — the non-negative contributions, rows x released cells; LEVELS — how many."""

    rule: str
    value: Any = None
    fields: tuple[str, ...] = ()
    parameters: int = 0
    empty_ok: bool = False

    def quantity(self) -> Any:
        return self.value() if callable(self.value) else self.value

    def guards(self, field: str | None) -> bool:
        return field is None or not self.fields or field in self.fields


T = TypeVar("T")


def declare(result: T, *requirements: Requirement, covers: Sequence[Any] = ()) -> T:
    """Attach the rules that apply to a statistic's result (a result object or a secret array)
    and mark it (and its secret fields) as an unmodified result of smpc.stats: immutable, and
    what a policy's ``only_statistics`` releases. Any array computed from it is not one, but it
    keeps the rules of the fields it is computed from (they travel in its provenance).

    ``covers``: the secret 0/1 inputs whose every level the declared rules count (a table's
    variables, an event column, a grouping): their selections are checked by those rules, so the
    engine does not check them again as subsets."""
    result.__dict__["_requirements"] = tuple(requirements)
    result.__dict__["_covers"] = frozenset(id(f) for arg in covers for f in _factors_of(arg))
    for name, value in _secrets_of(result):
        if name is None:  # a value (a result object's fields carry their statistic's stated accuracy)
            stated_by_statistic(value)
        value._prov = value._prov.with_requirements([r for r in requirements if r.guards(name)])
        value._statistic = True
    return result


def _secrets_of(result: object) -> list[tuple[str | None, Any]]:
    """The result itself if it is a secret, and its secret fields, with their names."""
    found: list[tuple[str | None, Any]] = [(None, result)] if isinstance(result, SecretCore) else []
    for name, value in getattr(result, "__dict__", {}).items():
        if not name.startswith("_") and isinstance(value, SecretCore):
            found.append((name, value))
    return found


def _factors_of(arg: Any) -> list[Any]:
    """The selection factors a secret input (a column, a frame of levels, a list) carries."""
    if isinstance(arg, SecretCore):
        return [f for m in arg._prov.monomials for f in m]
    if isinstance(arg, SecretFrame):  # (rows read in blocks are neither: they carry no selection)
        return [f for c in arg.columns for f in _factors_of(arg[c])]
    if isinstance(arg, list | tuple):
        return [f for a in arg for f in _factors_of(a)]
    return []


F = TypeVar("F", bound=Callable[..., Any])


#: the statistics that leave missing values out (the others refuse a variable that may be missing)
LEAVE_OUT_MISSING = frozenset(
    "categorical_nb corr cov coxph crosstab describe envelope gaussian_nb group_mean incidence_rate kaplan_meier logit logrank mantel_haenszel mean median ols poisson propensity_weights quantile "
    "rate_ratio "
    "std var".split()
)


def statistic(function: F) -> F:
    """A public statistic: the secret selections it makes itself (levels, time points, its own
    comparisons) are covered by the rules it declares, so they are dropped from its results'
    provenance; selections the cell made (a ``where=``, a comparison passed in) stay. The
    ``:observed`` columns of its inputs are counted like its groups (it leaves those rows out,
    or it refuses them before anything is sent)."""
    name = function.__name__

    @functools.wraps(function)
    def wrapper(*args: Any, missing: str = "drop", **kwargs: Any) -> Any:
        _refuse_declared_missing(name, missing, (*args, *kwargs.values()))
        require_weights(kwargs.get("weights"), f"smpc.stats.{name}")
        vertical = _refuse_imprecise(name, (*args, *kwargs.values()))
        if name != "kaplan_meier" and "where" in kwargs:  # (kaplan_meier takes where= itself)
            args, kwargs = _restricted(name, args, kwargs)
        inputs = (*args, *kwargs.values())
        if name not in LEAVE_OUT_MISSING:
            refuse_missing(f"smpc.stats.{name}", *inputs)
        start = next_serial()
        carried = max((v._bound.error() for v in secret_values(inputs)), default=0.0)
        with inside_statistic():
            result = function(*args, **kwargs)
        for _, value in _secrets_of(result):  # its stated accuracy, plus what its inputs carried
            value._bound = value._bound.with_error(value._bound.err + carried)
        covered = getattr(result, "__dict__", {}).get("_covers", frozenset())
        # a schema's :observed columns are counted like a statistic's groups; a cell's own
        # filter stays a selection of the cell (checked as any other)
        covered = covered | frozenset(id(f) for f in schema_columns(observed_columns(*inputs)))
        for _, value in _secrets_of(result):
            value._prov = value._prov.without_selections_after(start, covered)
        if vertical:  # rows that combine data of several sites: only where every policy allows it
            rule = Requirement(VERTICAL)
            result.__dict__["_requirements"] = (*result.__dict__.get("_requirements", ()), rule)
            for _, value in _secrets_of(result):
                value._prov = value._prov.with_requirements([rule])
        return result

    return wrapper  # type: ignore[return-value]


def require_weights(value: Any, what: str) -> None:
    """A statistic's ``weights=``: smpc.stats.propensity_weights as returned, or a private input
    column as shared (a survey weight); anything a cell computed could single out a patient
    (1000 x a comparison that holds for one row). Raised before anything is sent."""
    if value is None:
        return
    if isinstance(value, SecretCore):
        if value.__dict__.get(WEIGHTS_MARKER) is value._share:
            return
        marker = value.__dict__.get("_input")
        if marker is not None and marker[1] is value._prov and marker[2] is value._share and value.ndim == 1:
            return
    raise SecretValueError(
        f"{what}: weights= takes smpc.stats.propensity_weights(...) as returned, or a weight column of the private "
        "inputs as shared (a survey weight); not weights the cell computed or changed, which could single out a "
        "patient. Nothing was sent"
    )


def _refuse_imprecise(name: str, inputs: tuple[Any, ...]) -> bool:
    """Before a statistic runs, from public facts: each secret input is within the accuracy a
    release of it would need (a statistic states its own accuracy on exact inputs, so a mean
    of 1 / x for x near 0 would otherwise come back capped at it). Returns whether a row
    combines data of several sites (columns of the same patients held by different sites): a
    site chose its column, which could single out a patient (a regression on a one-hot
    covariate reads that row's outcome), so such a statistic is released only where every
    site's policy allows ``vertical``."""
    values = list(secret_values(inputs))
    for value in values:
        if beyond_tolerance(value):
            error = value._bound.error()
            amount = f"{error:.3g}" if math.isfinite(error) else "an unbounded amount"
            raise PrecisionError(
                f"smpc.stats.{name}: an input could be off by {amount} from its exact value (its "
                f"range reaches {value._bound.magnitude():.4g}), more than a release of it may be. It comes from "
                "the cell's fixed-point steps before the statistic (a division or reciprocal, square root or log of "
                "a value that may be close to 0). Nothing was sent. Declare tighter ranges, or a positive minimum "
                "for a divisor, or pass the columns themselves"
            )
    return _rows_of_several_sites(values)


def _rows_of_several_sites(values: list[Any]) -> bool:
    """Whether any input row (by its id, whatever the values' lengths) holds data of two sites
    across the row-level values, or any element combines two sites' rows."""
    ids, masks = [], []
    for value in values:
        prov = value._prov
        if not prov.is_row_level() or prov.untracked or value.ndim == 0:  # (untracked: its releases fail closed)
            continue
        rowid, sites = np.asarray(prov.rowid), np.asarray(prov.sites)
        # full length along the rows only (compact elsewhere: not n x columns)
        shape = (value.shape[0], *np.broadcast_shapes(rowid.shape[1:], sites.shape[1:]))
        ids.append(np.broadcast_to(rowid, shape).reshape(-1))
        masks.append(np.broadcast_to(sites, shape).reshape(-1))
    if not ids:
        return False
    rowid, sites = np.concatenate(ids), np.concatenate(masks)
    rowed = rowid != NONE
    if np.any(rowed & ((sites & (sites - 1)) != 0)):
        return True
    rowid, sites = rowid[rowid >= 0], sites[rowid >= 0]
    if not rowid.size:
        return False
    order = np.argsort(rowid, kind="stable")
    rowid, sites = rowid[order], sites[order]
    starts = np.flatnonzero(np.r_[True, rowid[1:] != rowid[:-1]])
    per_row = np.bitwise_or.reduceat(sites, starts)
    return bool(np.any((per_row & (per_row - 1)) != 0))


def _refuse_declared_missing(name: str, missing: str, inputs: tuple[Any, ...]) -> None:
    """``missing="raise"`` (statsmodels' word), for studies that require complete data: stop
    before anything is sent if a variable the statistic uses may be missing (the study schema
    declares ``missing = true``); which rows are missing is secret, so it is decided from the
    schema, not the data. ``"drop"`` (the default) leaves missing rows out."""
    if missing == "drop":
        return
    if missing != "raise":
        raise SecretValueError(f"smpc.stats.{name}: missing= is 'drop' (the default) or 'raise', not {missing!r}")
    declared = schema_columns(observed_columns(*inputs))
    if declared:
        raise MissingValuesError(
            f"smpc.stats.{name}(..., missing='raise'): {variables(declared)} may be missing (the study schema "
            "declares missing = true). Nothing was sent. Leave out missing rows with missing='drop' (the default: "
            "complete cases), or use variables the schema declares complete"
        )


def _restricted(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``where=mask`` on any statistic: every secret argument with one entry per row, filtered
    by the secret 0/1 ``mask`` (``x[mask]``, ``frame[mask]``), so the statistic uses those rows
    only (as it leaves out missing values)."""
    kwargs = dict(kwargs)
    mask = kwargs.pop("where")
    if mask is None:
        return args, kwargs
    if name not in LEAVE_OUT_MISSING:
        raise SecretValueError(f"smpc.stats.{name} does not take where= yet: it cannot leave rows out")
    if not isinstance(mask, SecretCore) or mask.ndim != 1:
        raise SecretValueError(
            f"smpc.stats.{name}: where= takes a secret 0/1 column with one entry per row (cohort['age'] > 65, "
            "cohort['drug=doac']); for rows chosen publicly, index them (x[:100])"
        )
    rows = len(mask)
    lengths = {len(v) for v in secret_values((*args, *kwargs.values())) if v.ndim >= 1}
    if rows not in lengths:
        raise SecretValueError(
            f"smpc.stats.{name}: where= has {rows} rows and the data {', '.join(map(str, sorted(lengths)))}; it "
            "takes one entry per row of the data"
        )
    for value in (*args, *kwargs.values()):
        if isinstance(value, STREAMED_TYPES):  # its rows are never shared: nothing to filter
            raise SecretValueError(
                f"smpc.stats.{name}: where= needs rows that are shared; rows read in blocks (smpc_magic.rows) are "
                "not. Mark a data frame that fits in memory private instead"
            )

    def restrict(value: Any) -> Any:
        if isinstance(value, SecretFrame) or (isinstance(value, SecretCore) and value.ndim >= 1 and len(value) == rows):
            return value[mask]
        if isinstance(value, list | tuple) and value and all(isinstance(v, SecretCore) for v in value):
            return type(value)(restrict(v) for v in value)
        return value

    return tuple(restrict(a) for a in args), {k: restrict(v) for k, v in kwargs.items()}


def requirements_of(value: object) -> tuple[Requirement, ...] | None:
    """What a statistic declared, or None for a value the cell computed itself."""
    found = getattr(value, "__dict__", {}).get("_requirements")
    return found if isinstance(found, tuple) else None
