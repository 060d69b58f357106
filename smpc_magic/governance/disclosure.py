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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DisclosureError, NumericalRangeError, PrecisionError
from ..secret.atoms import refine
from ..secret.core import SecretCore, reveal
from ..secret.frames import SecretFrame
from ..secret.provenance import ROUNDED
from ..stats.disclosure import (
    COUNT,
    DOMINANCE,
    PARAMETERS,
    ROW_VALUE,
    ROWS,
    Requirement,
    requirements_of,
)
from ..stats.results import FIELD_SEPARATOR, SecretResult
from .declared_rules import Check, PendingSelections, requirement_checks
from .policy import SitePolicy
from .selections import selection_violations

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


#: the label of the one opening of a cell's disclosure bit and statistics' check bit
VERDICT = "verdict"


def check_releases(
    namespace: Mapping[str, object],
    names: Sequence[str],
    policy: SitePolicy,
    facts: ReleaseFacts | None = None,
    pending: Sequence[Any] = (),
    sites: Sequence[str] = (),
) -> list[RuleOutcome]:
    """Check every rule for every release, from what each release is derived from (its
    provenance, kept by the engine) and what the statistics declared; return what passed.

    A rule decided by public facts (rows behind it, sites, row-level) stops the cell at once,
    naming the release and the rule. The rules that need secret data are checked inside the
    computation; with the statistics' deferred assumption checks (``pending``, each a secret
    0/1 flag and the error it stands for), at most three bits are opened, to every party, in one
    round: whether every rule held, whether every precision check held (a column that varies too
    little within its declared range) and whether every other assumption held. Precision is
    judged apart because a range far wider than the data also fails the assumptions computed from
    it (an inverse of the normalised columns): the error names the cause to fix, not its effect.
    So a cell opens at most three bits besides its releases, whatever its code; no check is
    observable before the end.
    ``sites``: the session's site names, in party order (to name a site in an error)."""
    checks: list[Check] = []
    for name in names:
        base, _, only = name.partition(FIELD_SEPARATOR)
        value = namespace.get(base)
        if value is None:
            continue  # the release step names the missing variable
        checks += _checks_for(name, value, only or None, policy, sites)
    checks += _joint_atoms(namespace, names, policy, sites)
    checks = _joint_selections(checks, policy)
    for check in pending:  # an assumption's bit is itself a release: the same public rules apply
        checks += [c for c in _derived(f"the check of {check.what}", [check.flag], policy, sites) if not c.secret]
    for c in checks:
        if not c.secret and c.violations:
            raise _withheld(c)
    secret = [c for c in checks if c.secret]
    imprecise = [p for p in pending if issubclass(p.kind, PrecisionError)]
    assumed = [p for p in pending if not issubclass(p.kind, PrecisionError)]
    groups = [g for g in ([c.violations for c in secret], [p.flag for p in imprecise], [p.flag for p in assumed]) if g]
    if groups:
        stacked: Any = (
            np.concatenate([np.concatenate([v.reshape(1) for v in g]).sum().reshape(1) for g in groups]) > 0.5
        )
        opened = reveal({VERDICT: stacked}, label=VERDICT)
        assert opened is not None  # every party is a recipient
        bits = [bool(round(float(b))) for b in np.atleast_1d(opened[VERDICT])]
        rules_failed = bits.pop(0) if secret else False
        precision_failed = bits.pop(0) if imprecise else False
        assumption_failed = bits.pop(0) if assumed else False
        if rules_failed:
            raise _withheld_secretly(secret)
        if precision_failed:  # the likelier cause of both: a range far wider than the data also fails an inverse
            raise _assumption_failed(imprecise)
        if assumption_failed:
            raise _assumption_failed(assumed)
    return [RuleOutcome(c.name, c.rule, c.threshold, True) for c in checks]


def _withheld(c: Check) -> DisclosureError:
    return DisclosureError(
        f"release withheld at every site: {c.name!r} failed the {c.rule} rule of the sites' policies "
        f"({c.hint}). Nothing of this cell was released.",
        rule=c.rule,
        name=c.name,
    )


def _withheld_secretly(secret: list[Check]) -> DisclosureError:
    if len({c.name for c in secret}) == 1:  # one release: name its rules (which one failed is not opened)
        order = [COUNT, ROWS, PARAMETERS, DOMINANCE]
        rules = sorted(dict.fromkeys(c.rule for c in secret), key=lambda r: order.index(r) if r in order else 9)
        hints = "; or ".join(dict.fromkeys(c.hint for c in secret))
        return _withheld(Check(secret[0].name, " or ".join(rules), secret[0].threshold, True, hints))
    listed = "; ".join(f"{c.name!r}: {c.rule} ({c.hint})" for c in secret)
    return DisclosureError(
        "release withheld at every site: at least one of the rules checked on the pooled data failed (one bit "
        f"says whether all held, so which one is not opened): {listed}. Nothing of this cell was released.",
        rule=secret[0].rule if len({c.rule for c in secret}) == 1 else "several",
        name=secret[0].name,
    )


def _assumption_failed(pending: Sequence[Any]) -> NumericalRangeError:
    kinds = {getattr(p, "kind", NumericalRangeError) for p in pending}
    kind = kinds.pop() if len(kinds) == 1 else NumericalRangeError
    if len({p.message for p in pending}) == 1:
        return kind(pending[0].message)
    listed = " | ".join(dict.fromkeys(p.message for p in pending))
    return kind(
        f"a statistic's checked assumption failed, so nothing of this cell was released; one bit says whether all "
        f"held, so which one is not opened. The checks were: {listed}"
    )


def _checks_for(name: str, value: object, only: str | None, policy: SitePolicy, sites: Sequence[str]) -> list[Check]:
    if isinstance(value, SecretResult):
        released = [only] if only else list(value.SECRET)
        declared = requirements_of(value) or ()
        reqs = [r for r in declared if any(r.guards(f) for f in released)]
        fields = [v for v in (getattr(value, f) for f in released if f in value.SECRET) if isinstance(v, SecretCore)]
        return _derived(name, fields, policy, sites, extra=reqs)
    if isinstance(value, SecretFrame):
        return [c for column in value.columns for c in _bare(f"{name}[{column!r}]", value[column], policy, sites)]
    if isinstance(value, SecretCore):
        own = requirements_of(value)
        if own is not None and value._statistic:
            return _derived(name, [value], policy, sites, extra=own)
        return _bare(name, value, policy, sites)
    return []  # a public value: every site could compute it


def _bare(name: str, value: Any, policy: SitePolicy, sites: Sequence[str]) -> list[Check]:
    """The rules for an array the cell computed itself (not an unmodified statistics result)."""
    if policy.only_statistics:
        hint = (
            "the policies release only unmodified results of smpc.stats functions, which declare their own "
            "rules; this one was computed by the cell"
        )
        return [Check(name, ONLY_STATISTICS, "yes", True, hint)]
    return _derived(name, [value], policy, sites)


def _derived(
    name: str, values: Sequence[Any], policy: SitePolicy, sites: Sequence[str], extra: Sequence[Requirement] = ()
) -> list[Check]:
    """The rules that follow from what the released ``values`` (a result's fields, or one array)
    are derived from: their provenance, merged, with the rules the statistics they are computed
    from declared (``extra``: a result's own)."""
    if not values:
        return [c for r in extra for c in requirement_checks(name, r, policy)]
    prov = values[0]._prov
    for v in values[1:]:
        prov = prov.released_with(v._prov)
    out: list[Check] = []
    if not policy.row_level and prov.is_row_level():
        hint = (
            "it holds values of individual rows (row-level data, for example a slice, a padded copy, a maximum "
            "or one row's value); release an aggregate such as a sum or a mean over enough rows"
        )
        out.append(Check(name, ROW_VALUE, "refused", True, hint))
    fewest = prov.fewest_rows()
    joint = prov.joint_form()  # the atoms of every element's sums together (a stack of sums)
    if joint is not None and (fewest is None or joint.smallest < fewest):
        fewest = joint.smallest
    if policy.min_rows > 0 and fewest is not None and fewest < policy.min_rows:
        hint = f"part of it is computed from only {fewest} rows, fewer than {policy.min_rows}; use more rows"
        out.append(Check(name, ROWS, str(policy.min_rows), True, hint))
    site = prov.single_site()
    if not policy.per_site and site is not None:
        hint = (
            f"part of it is computed from the data of {_site(site, sites)} alone; the policies refuse per-site values"
        )
        out.append(Check(name, PER_SITE, "refused", True, hint))
    threshold = max(policy.min_count, policy.min_rows)
    if any(ROUNDED in s.factors for s in prov.selections) and (threshold > 1 or not policy.zero_counts):
        hint = (
            "it sums rounded row values (round, astype(int)), which count rows above secret thresholds; "
            "round after aggregating, or compare with >= and let the engine check the group's size"
        )
        out.append(Check(name, COUNT, str(threshold), True, hint))
        return out + _declared(name, prov.requirements, extra, policy)
    if prov.selections and (threshold > 1 or not policy.zero_counts):
        rule = COUNT if all(v.is_integer for v in values) else ROWS  # whole numbers summed over a selection: counts
        hint = (
            f"it is computed over a secret selection of rows (a comparison, a 0/1 column or a level) with fewer "
            f"than {threshold} rows in it or out of it; merge small groups or widen the selection"
        )
        soft = sorted({str(f._soft) for sel in prov.selections for f in sel.factors if getattr(f, "_soft", None)})
        if soft:
            hint += (
                f"; or it sums {', '.join(soft)} of the rows' data, whose values set fewer than {threshold} rows' "
                "worth apart from the rest (above or below their mean): such a function picks rows as a comparison "
                "does. Use a gentler function, leave out the rows far from the others, or use it inside smpc.stats"
            )
        out.append(Check(name, rule, str(threshold), PendingSelections(prov.selections, threshold), hint))
    return out + _declared(name, prov.requirements, extra, policy)


def _joint_selections(checks: list[Check], policy: SitePolicy) -> list[Check]:
    """The releases' selection checks as one: every selection of every release, each pair of
    them compared (one product round and one comparison batch for the cell)."""
    deferred = [c for c in checks if isinstance(c.violations, PendingSelections)]
    if not deferred:
        return checks
    selections = tuple(s for c in deferred for s in c.violations.selections)
    threshold = deferred[0].violations.threshold
    unique = {key: s for s in selections for key in [s.key()]}
    violations = selection_violations(tuple(unique.values()), threshold, policy)
    names = list(dict.fromkeys(c.name for c in deferred))
    rule = COUNT if all(c.rule == COUNT for c in deferred) else ROWS
    hint = (
        deferred[0].hint
        if len(names) == 1
        else deferred[0].hint + "; or two of these releases select nearly the same rows"
    )
    joint = Check(
        names[0] if len(names) == 1 else ", ".join(repr(n) for n in names), rule, str(threshold), violations, hint
    )
    return [c for c in checks if not isinstance(c.violations, PendingSelections)] + [joint]


def _declared(
    name: str, carried: Sequence[Requirement], extra: Sequence[Requirement], policy: SitePolicy
) -> list[Check]:
    """The checks of the rules statistics declared (each once)."""
    unique = {id(r): r for r in [*extra, *carried]}.values()
    return [c for r in unique for c in requirement_checks(name, r, policy)]


def _joint_atoms(
    namespace: Mapping[str, object], names: Sequence[str], policy: SitePolicy, sites: Sequence[str]
) -> list[Check]:
    """Differences between releases: the atoms of every aggregate behind every release,
    together, hold at least ``min_rows`` rows each (and, where per-site values are refused,
    rows of more than one site). ``x.sum()`` and ``x[1:].sum()`` released together give row 0."""
    forms = []
    for name in names:
        base, _, only = name.partition(FIELD_SEPARATOR)
        for v in _released_secrets(namespace.get(base), only or None):
            joint = v._prov.joint_form()
            if joint is not None:
                forms.append(joint)
    if len(forms) < 2:
        return []
    atoms = refine(forms)
    listed = ", ".join(repr(n) for n in names)
    out: list[Check] = []
    if policy.min_rows > 0 and atoms.smallest < policy.min_rows:
        hint = (
            f"together they tell apart a group of {atoms.smallest} rows (a difference of overlapping sums or "
            f"means), fewer than {policy.min_rows}; release sums over the same rows or over groups that do not overlap"
        )
        out.append(Check(listed, ROWS, str(policy.min_rows), True, hint))
    site = atoms.single_site_atom()
    if not policy.per_site and site is not None:
        hint = (
            f"together they tell apart a part computed from the data of {_site(site, sites)} alone; the policies "
            "refuse per-site values"
        )
        out.append(Check(listed, PER_SITE, "refused", True, hint))
    return out


def _site(index: int, sites: Sequence[str]) -> str:
    return f"site {sites[index]!r}" if index < len(sites) else "one site"


def _released_secrets(value: object, only: str | None) -> list[Any]:
    if isinstance(value, SecretResult):
        fields = [only] if only else list(value.SECRET)
        return [v for v in (getattr(value, f, None) for f in fields) if isinstance(v, SecretCore)]
    if isinstance(value, SecretFrame):
        return [value[c] for c in value.columns]
    return [value] if isinstance(value, SecretCore) else []
