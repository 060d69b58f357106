"""The checks of the rules statistics declare (a count, rows, parameters, levels, dominance,
row-level values, envelopes, vertical data) for one release: each a public verdict known now or
a secret 0/1 flag of a violation, opened with the cell's others by
:func:`smpc_magic.governance.disclosure.check_releases`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..secret.array import SecretArray
from ..secret.core import SecretCore
from ..stats.disclosure import (
    COUNT,
    DOMINANCE,
    ENVELOPE,
    LEVELS,
    PARAMETERS,
    ROW_VALUE,
    ROWS,
    VERTICAL,
    Requirement,
)
from .policy import SitePolicy
from .selections import dominated


class Check:
    """A rule's verdict for one release: public (known now) or a secret 0/1 flag of a violation."""

    def __init__(self, name: str, rule: str, threshold: str, violations: Any, hint: str):
        self.name, self.rule, self.threshold, self.violations, self.hint = name, rule, threshold, violations, hint

    @property
    def secret(self) -> bool:
        return isinstance(self.violations, SecretCore | PendingSelections)


@dataclass(frozen=True)
class PendingSelections:
    """The secret selections a release sums over: checked together with every other release's
    (nested selections in two releases differ by a small group) in :func:`_joint_selections`."""

    selections: tuple[Any, ...]
    threshold: int


def requirement_checks(name: str, req: Requirement, policy: SitePolicy) -> list[Check]:
    """The check of one declared rule (public where its quantity is public)."""
    if req.rule == COUNT:
        return _at_least(
            name, COUNT, req.quantity(), policy.min_count, policy.zero_counts, "a released count or table cell"
        )
    if req.rule == ROWS:
        return _at_least(name, ROWS, req.quantity(), policy.min_rows, req.empty_ok, "the rows behind it")
    if req.rule == PARAMETERS:
        if math.isinf(policy.max_parameter_ratio):
            return []
        needed = req.parameters / policy.max_parameter_ratio
        rows = req.quantity()
        hint = f"{req.parameters} parameters need at least {math.ceil(needed)} rows; use fewer covariates or more rows"
        return [Check(name, PARAMETERS, f"{policy.max_parameter_ratio:g}", _count_below(rows, needed - 1e-9), hint)]
    if req.rule == LEVELS:
        levels = int(req.quantity())
        hint = f"{levels} levels exceed the limit of {policy.max_levels}; group some levels together"
        return [Check(name, LEVELS, str(policy.max_levels), levels > policy.max_levels, hint)]
    if req.rule == DOMINANCE:
        if policy.dominance_share >= 1:
            return []
        hint = (
            f"the largest {policy.dominance_k} contributions make up more than {policy.dominance_share:.0%} of the "
            "total; report it for a wider group"
        )
        threshold = f"top {policy.dominance_k} <= {policy.dominance_share:g}"
        violations = dominated(req.quantity(), policy.dominance_k, policy.dominance_share)
        return [Check(name, DOMINANCE, threshold, violations, hint)]
    if req.rule == ROW_VALUE:
        if policy.row_level:
            return []
        hint = "it is one patient's value (a minimum or maximum); release it only where the policies allow row-level values"
        return [Check(name, ROW_VALUE, "refused", True, hint)]
    if req.rule == VERTICAL:
        if policy.vertical:
            return []
        hint = (
            "its inputs combine data that different sites hold for the same rows (columns of the same patients "
            "at two sites); a site chooses its own column, and one that singles out a patient would read that "
            "patient's other values, so the policies refuse it (a custodian allows it with vertical = true)"
        )
        return [Check(name, VERTICAL, "refused", True, hint)]
    if req.rule == ENVELOPE:
        if policy.envelopes:
            return []
        hint = "it is a column's public envelope (smpc.stats.envelope), which the policies refuse; declare ranges"
        return [Check(name, ENVELOPE, "refused", True, hint)]
    raise ValueError(f"unknown disclosure rule {req.rule!r}")


def _at_least(name: str, rule: str, quantity: Any, threshold: int, zero_ok: bool, what: str) -> list[Check]:
    """Every value of ``quantity`` (whole numbers) is at least ``threshold`` (or 0 if ``zero_ok``)."""
    if threshold <= (1 if zero_ok else 0):
        return []
    low = threshold - 0.5
    zeros = "" if zero_ok else " (and not 0)"
    hint = f"{what} is below {threshold}{zeros}; merge small groups or levels, or widen the selection"
    if isinstance(quantity, SecretArray):
        flags: Any = quantity < low
        if zero_ok:
            flags = flags * (quantity > 0.5)
        violations: Any = flags.sum() if flags.ndim else flags
        return [Check(name, rule, str(threshold), violations, hint)]
    q = np.asarray(quantity, dtype=float)
    bad = (q < low) & ((q > 0.5) if zero_ok else True)
    return [Check(name, rule, str(threshold), bool(np.any(bad)), hint)]


def _count_below(quantity: Any, threshold: float) -> Any:
    if isinstance(quantity, SecretArray):
        flags: Any = quantity < threshold
        return flags.sum() if flags.ndim else flags
    return bool(np.any(np.asarray(quantity, dtype=float) < threshold))
