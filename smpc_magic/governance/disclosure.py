"""Disclosure control inside the computation: before anything of a cell is released, every rule
that applies to each declared release is checked on the pooled (secret) data, and only one
pass/fail bit per (release, rule) is opened, to every party. If any fails, nothing of the cell
is released, at any site (all or nothing), and the error names the rule and the release.

What applies: a result of :mod:`smpc_magic.stats` declares its rules per field
(:mod:`smpc_magic.stats.disclosure`); an array the cell computed itself gets the rules that
public facts allow (its rows, whether it is row-level, whether it is a count) and, where a
policy says ``only_statistics``, none at all: it is withheld.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DisclosureError
from ..secret.array import SecretArray
from ..secret.compare import argmax
from ..secret.core import SecretCore, reveal
from ..secret.frames import SecretFrame
from ..secret.precision import public_bound, scale_of
from ..stats.disclosure import COUNT, DOMINANCE, LEVELS, PARAMETERS, ROW_VALUE, ROWS, Requirement, requirements_of
from ..stats.results import FIELD_SEPARATOR, SecretResult
from .policy import SitePolicy

ONLY_STATISTICS = "only_statistics"
PER_SITE = "per_site"


@dataclass(frozen=True)
class ReleaseFacts:
    """Public facts of one cell, from the sites' declared inputs (shapes are public)."""

    pooled_rows: int | None = None  # the fewest pooled rows among the private inputs it used
    row_counts: frozenset[int] = frozenset()  # every per-site and pooled row count of those inputs
    sites: frozenset[str] = frozenset()  # the sites whose data the cell used

    def merged(self, other: ReleaseFacts) -> ReleaseFacts:
        """The facts of a value computed from both (a kept secret and this cell's inputs)."""
        rows = [r for r in (self.pooled_rows, other.pooled_rows) if r is not None]
        return ReleaseFacts(min(rows) if rows else None, self.row_counts | other.row_counts, self.sites | other.sites)


@dataclass(frozen=True)
class RuleOutcome:
    """One rule checked for one release: what the audit log records."""

    name: str
    rule: str
    threshold: str
    passed: bool

    def as_record(self) -> dict[str, Any]:
        return {"name": self.name, "rule": self.rule, "threshold": self.threshold, "passed": self.passed}


class _Check:
    """A rule's verdict for one release: public (known now) or a secret count of violations."""

    def __init__(self, name: str, rule: str, threshold: str, violations: Any, hint: str):
        self.name, self.rule, self.threshold, self.violations, self.hint = name, rule, threshold, violations, hint


def check_releases(
    namespace: Mapping[str, object], names: Sequence[str], policy: SitePolicy, facts: ReleaseFacts
) -> list[RuleOutcome]:
    """Check every rule for every release; raise :class:`DisclosureError` for the first failure
    (after all bits are open, so every party raises the same), or return what passed."""
    checks: list[_Check] = []
    for name in names:
        base, _, only = name.partition(FIELD_SEPARATOR)
        value = namespace.get(base)
        if value is None:
            continue  # the release step names the missing variable
        checks += _checks_for(name, value, only or None, policy, facts)
    secret = [c for c in checks if isinstance(c.violations, SecretCore)]
    if secret:
        totals: Any = np.concatenate([c.violations.reshape(1) for c in secret])
        opened = reveal({"disclosure": totals > 0.5})
        assert opened is not None  # every party is a recipient
        for c, bit in zip(secret, np.atleast_1d(opened["disclosure"])):
            c.violations = bool(round(float(bit)))
    for c in checks:
        if c.violations:
            raise DisclosureError(
                f"release withheld at every site: {c.name!r} failed the {c.rule} rule of the sites' policies "
                f"({c.hint}). Nothing of this cell was released.",
                rule=c.rule,
                name=c.name,
            )
    return [RuleOutcome(c.name, c.rule, c.threshold, True) for c in checks]


def _checks_for(name: str, value: object, only: str | None, policy: SitePolicy, facts: ReleaseFacts) -> list[_Check]:
    if isinstance(value, SecretResult):
        released = [only] if only else list(value.SECRET)
        declared = requirements_of(value) or ()
        reqs = [r for r in declared if any(r.guards(f) for f in released)]
        return _per_site(name, policy, facts) + [c for r in reqs for c in _requirement(name, r, policy)]
    if isinstance(value, SecretFrame):
        return _per_site(name, policy, facts) + [
            c for column in value.columns for c in _bare(f"{name}[{column!r}]", value[column], policy, facts)
        ]
    if isinstance(value, SecretCore):
        own = requirements_of(value)
        if own is not None:
            return _per_site(name, policy, facts) + [c for r in own for c in _requirement(name, r, policy)]
        return _per_site(name, policy, facts) + _bare(name, value, policy, facts)
    return []  # a public value: every site could compute it


def _per_site(name: str, policy: SitePolicy, facts: ReleaseFacts) -> list[_Check]:
    if policy.per_site or len(facts.sites) != 1:
        return []
    site = next(iter(facts.sites))
    hint = f"it is computed from the data of site {site!r} alone; the policies refuse per-site values"
    return [_Check(name, PER_SITE, "refused", True, hint)]


def _bare(name: str, value: Any, policy: SitePolicy, facts: ReleaseFacts) -> list[_Check]:
    """The rules for an array the cell computed itself."""
    if policy.only_statistics:
        hint = "the policies release only results of smpc.stats functions, which declare their own rules"
        return [_Check(name, ONLY_STATISTICS, "yes", True, hint)]
    out = []
    row_level = any(d > 1 and d in facts.row_counts for d in value.shape)
    if not policy.row_level:
        hint = "it has one value per row of an input (row-level data); release an aggregate such as a sum or a mean"
        out.append(_Check(name, ROW_VALUE, "refused", row_level, hint))
    if facts.pooled_rows is not None and policy.min_rows > 0:
        few = facts.pooled_rows < policy.min_rows
        hint = f"fewer than {policy.min_rows} pooled rows lie behind it; pool more sites or more rows"
        out.append(_Check(name, ROWS, str(policy.min_rows), few, hint))
    lo, _ = public_bound(value)
    if scale_of(value) == 0 and lo.size and float(lo.min()) >= 0:  # a whole non-negative number: a count
        out += _requirement(name, Requirement(COUNT, value), policy)
    return out


def _requirement(name: str, req: Requirement, policy: SitePolicy) -> list[_Check]:
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
        return [_Check(name, PARAMETERS, f"{policy.max_parameter_ratio:g}", _count_below(rows, needed - 1e-9), hint)]
    if req.rule == LEVELS:
        levels = int(req.quantity())
        hint = f"{levels} levels exceed the limit of {policy.max_levels}; group some levels together"
        return [_Check(name, LEVELS, str(policy.max_levels), levels > policy.max_levels, hint)]
    if req.rule == DOMINANCE:
        if policy.dominance_share >= 1:
            return []
        hint = (
            f"the largest {policy.dominance_k} contributions make up more than {policy.dominance_share:.0%} of the "
            "total; report it for a wider group"
        )
        threshold = f"top {policy.dominance_k} <= {policy.dominance_share:g}"
        violations = _dominated(req.quantity(), policy.dominance_k, policy.dominance_share)
        return [_Check(name, DOMINANCE, threshold, violations, hint)]
    if req.rule == ROW_VALUE:
        if policy.row_level:
            return []
        hint = "it is one patient's value (a minimum or maximum); release it only where the policies allow row-level values"
        return [_Check(name, ROW_VALUE, "refused", True, hint)]
    raise ValueError(f"unknown disclosure rule {req.rule!r}")


def _at_least(name: str, rule: str, quantity: Any, threshold: int, zero_ok: bool, what: str) -> list[_Check]:
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
        return [_Check(name, rule, str(threshold), violations, hint)]
    q = np.asarray(quantity, dtype=float)
    bad = (q < low) & ((q > 0.5) if zero_ok else True)
    return [_Check(name, rule, str(threshold), bool(np.any(bad)), hint)]


def _count_below(quantity: Any, threshold: float) -> Any:
    if isinstance(quantity, SecretArray):
        flags: Any = quantity < threshold
        return flags.sum() if flags.ndim else flags
    return bool(np.any(np.asarray(quantity, dtype=float) < threshold))


def _dominated(contributions: Any, k: int, share: float) -> Any:
    """How many released cells have their ``k`` largest (non-negative) contributions above
    ``share`` of the cell's total: k rounds of a secret argmax down each column."""
    c: Any = contributions if contributions.ndim == 2 else contributions.reshape(-1, 1)
    rows = c.shape[0]
    total = c.sum(axis=0)
    top: Any = total * 0
    for _ in range(min(k, rows)):
        index = argmax(c, axis=0)
        chosen = index[None, :] == np.arange(rows)[:, None]  # one-hot of each column's largest
        largest = (chosen * c).sum(axis=0)
        top = top + largest
        c = c - chosen * c
    flags: Any = (top - total * share) > 0
    if not isinstance(flags, SecretArray):
        return bool(np.any(flags))
    return flags.sum() if flags.ndim else flags
