"""The sites' policies in a computation: what each site says in the rendezvous, the strictest
rules they agree to, approvals, recipients and rows per site, all checked before any input is
shared; and the public facts that disclosure control needs at release.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ApprovalRequiredError, PolicyError
from ..governance.approvals import ApprovalBook, CellRequest
from ..governance.disclosure import ReleaseFacts
from ..governance.policy import EffectivePolicy, SitePolicy, strictest
from ..secret.frames import split_key
from .inputs import Declared
from .public_functions import PublicFunction
from .sandbox import public_digest


def cell_request(
    session: str,
    code: str,
    *,
    reveal: Sequence[str],
    to: Sequence[str],
    public: Mapping[str, object],
    schema: str,
    keep: Sequence[str],
    partial: Sequence[str],
) -> CellRequest:
    """What a custodian approves for this cell: its digest covers the exact public values."""
    return CellRequest(
        session=session,
        code=code.strip(),
        reveal=list(reveal),
        to=list(to),
        public=public_digest(public, "approval"),
        schema=schema,
        keep=list(keep),
        partial=sorted(set(partial)),
        public_values={name: _summary(value) for name, value in public.items()},
    )


def _summary(value: object) -> str:
    if isinstance(value, PublicFunction):
        return "function: " + value.source.strip().splitlines()[0][:100]
    text = np.array2string(np.asarray(value), threshold=8) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def rendezvous_fields(policy: SitePolicy | None, book: ApprovalBook | None, request: CellRequest) -> dict[str, Any]:
    """This site's policy (it is public to the peers), its digest, and whether this site's
    custodian approved the request (only asked when the policy requires approval)."""
    approved = bool(policy is not None and policy.approval and book is not None and book.is_approved(request.digest))
    return {
        "policy": policy.as_dict() if policy is not None else {},
        "policy_digest": policy.digest if policy is not None else "",
        "approved": approved,
    }


def peer_policy(meta: Mapping[str, Any], sender: str) -> SitePolicy | None:
    """A peer's policy from its rendezvous message, checked like a policy file."""
    data, digest = meta.get("policy"), meta.get("policy_digest")
    flags_ok = isinstance(meta.get("approved"), bool) and isinstance(meta.get("policy_error"), bool)
    if not isinstance(data, dict) or not isinstance(digest, str) or not flags_ok:
        raise ValueError("policy")
    if not data:
        if digest:
            raise ValueError("policy digest")
        return None
    policy = SitePolicy.from_mapping(data, f"the policy of site {sender!r}")
    if policy.digest != digest:
        raise ValueError("policy digest")
    return policy


def effective_policy(
    names: list[str], me: int, mine: SitePolicy | None, metas: Mapping[int, Mapping[str, Any]]
) -> EffectivePolicy:
    policies = {names[me]: mine}
    policies.update({names[j]: peer_policy(m, names[j]) for j, m in metas.items()})
    return strictest({n: policies[n] for n in names})


def require_approvals(
    effective: EffectivePolicy,
    approved: Mapping[str, bool],
    request: CellRequest,
    me: str,
    book: ApprovalBook | None,
) -> None:
    """Stop (before anything is shared) unless every site that requires approval approved."""
    missing = tuple(site for site in effective.approval_sites if not approved.get(site))
    if not missing:
        return
    if me in missing and book is not None:
        book.add_pending(request)  # for this site's custodian to review
    who = ", ".join(repr(s) for s in missing)
    raise ApprovalRequiredError(
        f"site {who} requires its custodian's approval of each cell, and has not approved this one; nothing was "
        f"shared. The custodian there reviews it with `smpc approve --pending` and approves digest "
        f"{request.digest[:16]} (`smpc approve SESSION {request.digest[:16]} --as SITE`).",
        sites=missing,
        digest=request.digest,
    )


def require_recipients(effective: EffectivePolicy, recipients: Sequence[str]) -> None:
    refused = [r for r in recipients if not effective.allows_recipient(r)]
    if refused:
        setters = ", ".join(effective.set_by.get("recipients", [])) or "a site"
        raise PolicyError(
            f"the policy of {setters} does not allow {refused[0]!r} to receive results (allowed: "
            f"{', '.join(effective.rules.recipients)}); nothing was shared. Release with --to an allowed party."
        )


def release_facts(
    declared: Declared, used: set[str], names: list[str]
) -> tuple[ReleaseFacts, dict[str, dict[str, int]]]:
    """Public facts from the declared inputs: rows per site of each private name the cell uses."""
    rows: dict[str, dict[str, int]] = {}
    for i in sorted(declared):
        for key, info in declared[i].items():
            variable = split_key(key)[0]
            if variable in used:
                shape = info.get("shape") or [1]
                rows.setdefault(variable, {})[names[i]] = int(shape[0])
    pooled = {v: sum(per.values()) for v, per in rows.items()}
    counts = {n for per in rows.values() for n in per.values()} | set(pooled.values())
    sites = frozenset(site for per in rows.values() for site in per)
    facts = ReleaseFacts(min(pooled.values()) if pooled else None, frozenset(counts), sites)
    return facts, rows


def require_site_rows(effective: EffectivePolicy, rows: Mapping[str, Mapping[str, int]], releases: bool) -> None:
    """Each contributing site provides at least ``min_rows_per_site`` rows (shapes are public)."""
    least = effective.rules.min_rows_per_site
    if not releases or least <= 0:
        return
    for variable, per in sorted(rows.items()):
        for site, count in per.items():
            if count < least:
                raise PolicyError(
                    f"site {site!r} provides {count} rows of {variable!r}, fewer than the {least} per site the "
                    "policies require before anything is released; nothing was shared."
                )
