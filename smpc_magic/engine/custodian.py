"""The custodian's side of a site: review and approve (or revoke) cells, read the policy.

Shared by ``smpc approve`` and the approval panel in the custodian's own notebook. A custodian
needs the session file and the site's key file; every approval and revocation is signed with
the site's key and also recorded in the site's audit chain.
"""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from kernel_bridge.keys import load_keypair
from kernel_bridge.session import SessionConfig, load_session

from ..errors import PolicyError
from ..governance.approvals import ApprovalBook, CellRequest
from ..governance.audit_chain import AuditChain, audit_path
from ..governance.policy import SitePolicy, site_policy, strictest
from ..governance.signing import SigningKey
from ..schema import load_schema
from .oversight import cell_request


class Custodian:
    """One site's custodian: its approvals, its policy, its audit chain."""

    def __init__(self, session: str | Path | SessionConfig, site: str, key_path: str | Path | None = None):
        self.config = session if isinstance(session, SessionConfig) else load_session(session)
        self.config.index(site)  # a clear error for a name not in the session
        self.site = site
        self.key_path = Path(key_path) if key_path else self.config.default_key_path(site)
        self.signer = SigningKey(load_keypair(self.key_path))
        self.book = ApprovalBook(self.key_path, self.signer)

    @property
    def policy(self) -> SitePolicy | None:
        return site_policy(self.key_path)

    def rules(self) -> list[tuple[str, str, str]]:
        return strictest({self.site: self.policy}).describe()

    def pending(self) -> list[CellRequest]:
        return self.book.pending()

    def approved(self) -> list[dict[str, Any]]:
        """The approvals in force (not revoked), oldest first."""
        return [r for r in self.book.state().values() if r["action"] == "approve"]

    def request(self, cell: str, public_values: dict[str, Any] | None = None) -> CellRequest:
        """A pending request by digest (a unique prefix), or a cell file's request."""
        path = Path(cell)
        if path.exists():
            return request_from_cell(self.config, path.read_text(), public_values or {})
        return self.book.pending_request(cell)

    def approve(self, request: CellRequest, by: str = "") -> str:
        digest = self.book.approve(request, by=by)
        self._audit({"kind": "approval", "action": "approve", "digest": digest, "request": asdict(request), "by": by})
        return digest

    def revoke(self, digest: str, by: str = "") -> str:
        full = self.book.revoke(digest, by=by)
        self._audit({"kind": "approval", "action": "revoke", "digest": full, "by": by})
        return full

    def _audit(self, record: dict[str, Any]) -> None:
        chain = AuditChain(audit_path(self.config.directory, self.site), self.site, self.config.session_id, self.signer)
        chain.append(record)


def _names(values: list[str]) -> list[str]:
    return [n for n in re.split(r"[,\s]+", " ".join(values)) if n]


def parse_cell(text: str) -> tuple[str, dict[str, Any]]:
    """A cell as saved from the notebook (first line ``%%smpc --reveal ...``): (code, arguments)."""
    first, _, code = text.partition("\n")
    if not first.startswith("%%smpc"):
        raise PolicyError("a cell file starts with its %%smpc line (e.g. `%%smpc --reveal fit`), then the code")
    parser = argparse.ArgumentParser(prog="%%smpc", add_help=False, exit_on_error=False)
    for option in ("--reveal", "--public", "--keep", "--partial"):
        parser.add_argument(option, nargs="*", default=[])
    parser.add_argument("--to", nargs="*", default=None)
    parser.add_argument("--timeout", type=float, default=None)
    try:
        parsed = parser.parse_args(shlex.split(first[len("%%smpc") :]))
    except (argparse.ArgumentError, SystemExit, ValueError):
        raise PolicyError(f"cannot read the %%smpc line {first!r}") from None
    to = _names(parsed.to or [])
    return code, {
        "reveal": _names(parsed.reveal),
        "to": None if not to or to == ["all"] else to,
        "public": _names(parsed.public),
        "keep": _names(parsed.keep),
        "partial": _names(parsed.partial),
    }


def request_from_cell(config: SessionConfig, text: str, public_values: dict[str, Any]) -> CellRequest:
    """The request a cell file makes, with the same digest the sites compute when it runs."""
    code, arguments = parse_cell(text)
    missing = [n for n in arguments["public"] if n not in public_values]
    if missing:
        raise PolicyError(f"the cell uses --public {missing[0]}: give its value with --public-values FILE.json")
    to = arguments["to"]
    recipients = config.names if to is None else [config.names[i] for i in sorted({config.index(n) for n in to})]
    schema = load_schema(config.schema_path).digest if config.schema_path else ""
    public = {
        n: (v if isinstance(v, str) else np.asarray(v)) for n, v in public_values.items() if n in arguments["public"]
    }
    return cell_request(
        config.session_id,
        code,
        reveal=arguments["reveal"],
        to=recipients,
        public=public,
        schema=schema,
        keep=arguments["keep"],
        partial=arguments["partial"],
    )
