"""A site's policy: the custodian's rules for what may leave a computation on that site's data.

The file (TOML) lives beside the site's key file (``keys/north.key`` → ``keys/north.policy.toml``),
not in the shared session file: the custodian owns it. Its defaults are DataSHIELD's
(``nfilter.tab`` 3, ``nfilter.subset`` 3, ``nfilter.glm`` 0.33, ``nfilter.levels.max`` 40).
Every cell runs under the strictest combination of all sites' policies (:func:`strictest`);
each site's digest is compared in the rendezvous, so a changed policy is seen by everyone.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from kernel_bridge.files import atomic_write

from ..errors import PolicyError

ANY_RECIPIENT = "*"


@dataclass(frozen=True)
class SitePolicy:
    """One site's rules; see :data:`TEMPLATE` for what each one means."""

    min_count: int = 3
    zero_counts: bool = True
    min_rows: int = 3
    min_rows_per_site: int = 0
    max_parameter_ratio: float = 0.33
    max_levels: int = 40
    dominance_k: int = 2
    dominance_share: float = 1.0
    only_statistics: bool = False
    recipients: tuple[str, ...] = (ANY_RECIPIENT,)
    row_level: bool = False
    per_site: bool = False
    envelopes: bool = True
    vertical: bool = False
    approval: bool = False

    @property
    def digest(self) -> str:
        text = json.dumps(self.as_dict(), sort_keys=True)
        return hashlib.sha256(b"smpc-policy-v1\0" + text.encode()).hexdigest()

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["recipients"] = list(self.recipients)
        return out

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str) -> SitePolicy:
        """A policy from its flat fields, each checked (``where`` names the file or the site)."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise PolicyError(f"{where}: unknown policy setting {unknown[0]!r}; the settings are {', '.join(known)}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            default = getattr(cls, name) if name != "recipients" else cls.recipients
            values[name] = _checked(name, value, default, where)
        return cls(**values)


#: A site without a policy file holds the documented defaults: privacy is on without any file.
DEFAULT = SitePolicy()

#: No rule at all: what a site sets only by writing it (or :func:`smpc_magic.simulate`, whose
#: parties all run on one machine, for sites without a ``policies=`` entry).
OPEN = SitePolicy(
    min_count=0,
    zero_counts=True,
    min_rows=0,
    min_rows_per_site=0,
    max_parameter_ratio=math.inf,
    max_levels=1 << 20,
    dominance_share=1.0,
    row_level=True,
    per_site=True,
    vertical=True,
)


def _checked(name: str, value: Any, default: Any, where: str) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise PolicyError(f"{where}: {name} must be true or false")
        return value
    if isinstance(default, int):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1 << 20:
            raise PolicyError(f"{where}: {name} must be a whole number from 0 to {1 << 20}")
        if name == "dominance_k" and value < 1:
            raise PolicyError(f"{where}: dominance_k must be at least 1")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) or value <= 0:
            raise PolicyError(f"{where}: {name} must be a positive number")
        if name == "dominance_share" and value > 1:
            raise PolicyError(f"{where}: dominance_share is a share, from 0 to 1 (1 turns the rule off)")
        return float(value)
    if not isinstance(value, list | tuple) or not value or not all(isinstance(v, str) and v for v in value):
        raise PolicyError(f'{where}: recipients must be a list of party names, or ["*"] for any party')
    return tuple(value)


@dataclass(frozen=True)
class EffectivePolicy:
    """The rules a cell runs under: the strictest of every site's, and which site set each."""

    rules: SitePolicy
    set_by: dict[str, list[str]] = field(default_factory=dict)  # setting -> sites whose value it is
    approval_sites: tuple[str, ...] = ()
    digests: dict[str, str] = field(default_factory=dict)  # site -> its policy digest ("" = none)

    def allows_recipient(self, name: str) -> bool:
        return ANY_RECIPIENT in self.rules.recipients or name in self.rules.recipients

    def describe(self) -> list[tuple[str, str, str]]:
        """(rule, value, set by) rows for the status panel and the approval screen."""
        r = self.rules
        rows = [
            ("min_count", f"{r.min_count}" + ("" if r.zero_counts else " (zeros refused)"), "min_count"),
            ("min_rows", str(r.min_rows), "min_rows"),
            ("min_rows_per_site", str(r.min_rows_per_site), "min_rows_per_site"),
            (
                "max_parameter_ratio",
                "off" if math.isinf(r.max_parameter_ratio) else f"{r.max_parameter_ratio:g}",
                "max_parameter_ratio",
            ),
            ("max_levels", str(r.max_levels), "max_levels"),
            (
                "dominance",
                "off" if r.dominance_share >= 1 else f"top {r.dominance_k} ≤ {r.dominance_share:.0%}",
                "dominance_share",
            ),
            ("only_statistics", "yes" if r.only_statistics else "no", "only_statistics"),
            ("recipients", ", ".join(r.recipients), "recipients"),
            ("row_level", "allowed" if r.row_level else "refused", "row_level"),
            ("per_site", "allowed" if r.per_site else "refused", "per_site"),
            ("envelopes", "allowed" if r.envelopes else "refused", "envelopes"),
            ("vertical", "allowed" if r.vertical else "refused", "vertical"),
            ("approval", ", ".join(self.approval_sites) or "not required", "approval"),
        ]
        return [(rule, value, ", ".join(self.set_by.get(key, [])) or "-") for rule, value, key in rows]


def strictest(policies: Mapping[str, SitePolicy | None]) -> EffectivePolicy:
    """The strictest value of each rule across sites (a site without a policy file holds the
    documented defaults)."""
    given = {site: (p if p is not None else DEFAULT) for site, p in policies.items()}
    chosen: dict[str, Any] = {}
    set_by: dict[str, list[str]] = {}
    for f in fields(SitePolicy):
        values = {site: getattr(p, f.name) for site, p in given.items()}
        if f.name == "recipients":
            allowed: set[str] | None = None
            for v in values.values():
                if ANY_RECIPIENT not in v:
                    allowed = set(v) if allowed is None else allowed & set(v)
            value: Any = (ANY_RECIPIENT,) if allowed is None else tuple(sorted(allowed))
        elif f.name in ("max_parameter_ratio", "dominance_share", "max_levels"):
            value = min(values.values())
        elif isinstance(f.default, bool):
            # allow-rules are and-ed; requirement-rules are or-ed
            allows = ("zero_counts", "row_level", "per_site", "envelopes", "vertical")
            value = all(values.values()) if f.name in allows else any(values.values())
        else:
            value = max(values.values())
        chosen[f.name] = value
        set_by[f.name] = [s if policies[s] is not None else f"{s} (default)" for s, v in values.items() if v == value]
    approval_sites = tuple(s for s, p in given.items() if p.approval)
    digests = {site: (p.digest if p is not None else "") for site, p in policies.items()}
    return EffectivePolicy(SitePolicy(**chosen), set_by, approval_sites, digests)


def policy_path(key_path: str | os.PathLike[str]) -> Path:
    """Where a site's policy lives: beside its key file, named after it."""
    key = Path(key_path)
    return key.with_name(key.stem + ".policy.toml")


def load_policy(path: str | os.PathLike[str]) -> SitePolicy:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path} is not valid TOML: {exc}") from None
    flat: dict[str, Any] = {}
    for section in ("disclosure", "release", "approval"):
        table = data.pop(section, {})
        if not isinstance(table, dict):
            raise PolicyError(f"{path}: [{section}] must be a table")
        flat.update({("approval" if (section, k) == ("approval", "required") else k): v for k, v in table.items()})
    if data:
        raise PolicyError(
            f"{path}: unknown section or setting {sorted(data)[0]!r} (sections: disclosure, release, approval)"
        )
    return SitePolicy.from_mapping(flat, str(path))


def site_policy(key_path: str | os.PathLike[str]) -> SitePolicy | None:
    """The policy beside a site's key file, or None when the custodian has not written one."""
    path = policy_path(key_path)
    return load_policy(path) if path.exists() else None


TEMPLATE = """\
# Site policy of {site!r}: the data custodian's rules for every computation on this site's data.
# It stays with this site (beside its key file), never in the shared session file. Each cell
# runs under the strictest value of each rule across all sites; every site sees each site's
# policy digest, so a change is noticed. Defaults follow DataSHIELD's disclosure settings.

[disclosure]
# The smallest non-zero count a released count or table cell may have (DataSHIELD nfilter.tab).
# Checked securely on the pooled counts: only a pass/fail bit is opened.
min_count = {min_count}
# May a released count be exactly 0?
zero_counts = {zero_counts}
# The fewest pooled rows behind any released statistic (a mean, a regression, a group's mean;
# DataSHIELD nfilter.subset). Counted securely where the rows are a secret subset.
min_rows = {min_rows}
# The fewest rows any one site must contribute to a cell that releases something (0: no rule).
min_rows_per_site = {min_rows_per_site}
# A regression's parameters may be at most this share of its rows (DataSHIELD nfilter.glm).
max_parameter_ratio = {max_parameter_ratio}
# The most levels a released table or categorical result may have (DataSHIELD nfilter.levels.max).
max_levels = {max_levels}
# Dominance for released means (smpc.stats.mean, per group too): the largest `dominance_k`
# contributions may make up at most `dominance_share` of the total behind the mean (1.0 turns the
# rule off; 0.9 is common in official statistics).
dominance_k = {dominance_k}
dominance_share = {dominance_share}
# Release only results of smpc.stats functions (which declare their rules), not arrays a cell
# computed itself (vantage6-style: only reviewed algorithms).
only_statistics = {only_statistics}

[release]
# The parties that may receive released values: ["*"] for any, or a list of party names.
recipients = {recipients}
# May a release hold row-level values (one value per patient)?
row_level = {row_level}
# May a release hold values computed from one site's data alone?
per_site = {per_site}
# May a cell release smpc.stats.envelope: per column, the powers of two above the largest
# magnitudes of the pooled values (a fact about the most extreme row, within a factor of two)?
envelopes = {envelopes}
# May a statistic combine data that different sites hold for the same rows (columns of the same
# patients at two sites)? Each site chooses its own column: allow it only where the sites trust
# each other's columns (one that singles out a patient would read that patient's other values).
vertical = {vertical}

[approval]
# Must this site's custodian approve each exact cell (`smpc approve`) before it runs?
required = {approval}
"""


def render(policy: SitePolicy, site: str) -> str:
    values = policy.as_dict()
    text = {k: _toml_value(v) for k, v in values.items()}
    return TEMPLATE.format(site=site, **text)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"  # (TOML's; JSON has none)
    return json.dumps(value)


def write_policy(path: str | os.PathLike[str], policy: SitePolicy, site: str) -> Path:
    """Write a documented policy file, readable only by its owner (replaced atomically)."""
    path = Path(path)
    atomic_write(path, render(policy, site).encode())
    return path
