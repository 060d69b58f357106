"""Stops that every site makes together: after the rendezvous, each site knows whether any
site's data broke the schema or could not be encoded, and all stop before anything is shared.
A site's own failure is raised with its details; the others name that site, never its data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import EncodingError, PolicyError, SchemaError
from ..schema import StudySchema, Violation
from ..schema.check import require_conformance_of


def schema_violations(
    me: str, schema: StudySchema | None, mine: list[Violation], metas: Mapping[int, Mapping[str, Any]], names: list[str]
) -> None:
    """Every site stops when any site's data breaks the schema; nothing was shared yet."""
    if mine and schema is not None:
        require_conformance_of(schema, mine, f"the private data of site {me!r}")
    if mine:
        raise SchemaError(
            f"the private data of site {me!r} breaks its declared ranges: "
            + "; ".join(v.local_detail for v in mine[:10])
            + ". Nothing was shared. Fix the data or declare the range the study agreed on."
        )
    refused = {names[j]: m["refused"] for j, m in sorted(metas.items()) if m["refused"]}
    if refused:
        site, rules = next(iter(refused.items()))
        raise SchemaError(
            f"site {site!r} holds data that breaks the study schema ({'; '.join(rules)}); nothing was "
            f"shared. That site's notebook lists the rows to fix."
            + (f" Also: {', '.join(map(repr, list(refused)[1:]))}." if len(refused) > 1 else "")
        )


def _together(
    mine: Exception | None, metas: Mapping[int, Mapping[str, Any]], names: list[str], flag: str
) -> str | None:
    """Raise this site's own failure; else the first other site whose rendezvous ``flag`` is set."""
    if mine is not None:
        raise mine
    failed = [names[j] for j, m in sorted(metas.items()) if m[flag]]
    return failed[0] if failed else None


def encoding_errors(
    mine: EncodingError | SchemaError | None, metas: Mapping[int, Mapping[str, Any]], names: list[str]
) -> None:
    """Every site stops when any site could not encode its inputs (NaN, infinity, range, text)."""
    site = _together(mine, metas, names, "input_error")
    if site:
        raise EncodingError(
            f"site {site!r} could not use its private inputs (a NaN, an infinity, a value out of "
            "range or text); nothing was shared. That site's notebook says which input and why."
        )


def policy_errors(mine: PolicyError | None, metas: Mapping[int, Mapping[str, Any]], names: list[str]) -> None:
    """Every site stops when any site's policy file could not be read, or its approvals could not
    be trusted; nothing was shared."""
    site = _together(mine, metas, names, "policy_error")
    if site:
        raise PolicyError(
            f"the policy file of site {site!r} could not be read, or its approvals cannot be trusted, so no rules "
            "are known for that site; nothing was shared. That site's notebook says what is wrong; its custodian "
            "fixes the file."
        )
