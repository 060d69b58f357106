"""The custodian's side of a site: review and approve (or revoke) cells, read the policy.

Shared by ``smpc approve`` and the approval panel in the custodian's own notebook. A custodian
needs the session file and their own custodian key (``smpc custodian keygen``; by default
``keys/SITE.custodian.key``), never the site's CurveZMQ key: every approval and revocation is
signed with the custodian key. Where the site's key file is also at hand (a local demo, or a
custodian on the site's machine), each is recorded in the site's audit chain too.
"""

from __future__ import annotations

import argparse
import datetime
import re
import shlex
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from kernel_bridge.errors import SessionFileError
from kernel_bridge.keys import load_keypair
from kernel_bridge.session import SessionConfig, load_session

from ..errors import PolicyError
from ..governance.approvals import ApprovalBook, CellRequest
from ..governance.audit_chain import AuditChain, audit_path
from ..governance.policy import SitePolicy, site_policy, strictest
from ..governance.signing import CustodianKey, SigningKey, custodian_key_path
from ..schema import load_schema
from .oversight import cell_request


class Custodian:
    """One site's custodian: its approvals, its policy, its audit chain."""

    def __init__(
        self,
        session: str | Path | SessionConfig,
        site: str,
        key_path: str | Path | None = None,
        custodian_key: str | Path | None = None,
    ):
        self.config = session if isinstance(session, SessionConfig) else load_session(session)
        self.config.index(site)  # a clear error for a name not in the session
        self.site = site
        #: where the site's files are: its policy, approvals and custodian public key sit beside it
        self.key_path = Path(key_path) if key_path else self.config.default_key_path(site)
        self.custodian_key_path = Path(custodian_key) if custodian_key else custodian_key_path(self.key_path)
        self.book = ApprovalBook(self.key_path)

    def _signing_book(self) -> ApprovalBook:
        """The approvals, with the custodian's key to sign (loaded only when signing)."""
        if self.book.custodian is None:
            self.book.custodian = CustodianKey.load(self.custodian_key_path)
        return self.book

    def keygen(self, force: bool = False) -> tuple[Path, Path, list[Path]]:
        """Make the custodian's key: the private half at ``custodian_key_path`` (0600, in a 0700
        folder), the public half beside the site's key for the kernel. Returns both paths and the
        approvals files set aside (signed with a replaced key, they no longer count)."""
        public = self.book.public_path
        if self.custodian_key_path.resolve() == self.key_path.resolve():
            raise PolicyError("the custodian key must be a file of its own, not the site's key file")
        if (public.exists() or self.custodian_key_path.exists()) and not force:
            raise PolicyError(
                f"{public if public.exists() else self.custodian_key_path} exists: this site has a custodian key. "
                "--force replaces it; every approval signed with the old key then stops counting"
            )
        key = CustodianKey.generate()
        key.write(self.custodian_key_path, self.site)
        retired = []
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
        for path in (self.book.path, self.book.head_path):
            if path.exists():
                aside = path.with_name(f"{path.name}.retired-{stamp}")
                path.rename(aside)
                retired.append(aside)
        key.write_public(public, self.site)
        return self.custodian_key_path, public, retired

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
        digest = self._signing_book().approve(request, by=by)
        self._audit({"kind": "approval", "action": "approve", "digest": digest, "request": asdict(request), "by": by})
        return digest

    def revoke(self, digest: str, by: str = "") -> str:
        full = self._signing_book().revoke(digest, by=by)
        self._audit({"kind": "approval", "action": "revoke", "digest": full, "by": by})
        return full

    def _audit(self, record: dict[str, Any]) -> None:
        """Also in the site's audit chain, where the site's key is at hand (it signs that chain)."""
        try:
            signer = SigningKey(load_keypair(self.key_path))
        except (OSError, SessionFileError):
            return  # the approvals file is the custodian's own signed record
        chain = AuditChain(audit_path(self.config.directory, self.site), self.site, self.config.session_id, signer)
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
