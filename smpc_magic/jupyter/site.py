"""A site's session inside its kernel: the connected party, its private names, kept secrets,
and the audit log. No IPython here; the magics are a thin layer on top."""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Any

import numpy as np

from kernel_bridge.keys import fingerprint

from ..engine.logs import log_to_folder_from_env
from ..engine.party import CellOutcome, Party
from ..engine.sandbox import analyse
from ..engine.schema_inputs import flatten_with_schema, site_ranges
from ..engine.streams import LocalStream, split_streamed
from ..errors import ApprovalRequiredError, CellError, DisclosureError, MissingContributionError, SchemaError, SmpcError
from ..governance.approvals import CHECK_BITS
from ..governance.audit_chain import AuditChain, audit_path, released_values
from ..governance.policy import SitePolicy, policy_path, site_policy, strictest
from ..protocols.base import MaterialNeed
from ..schema.check import require_conformance_of
from ..secret.frames import flatten_private, is_dataframe, split_key
from ..stats.results import ReleasedResult


class SiteSession:
    """One party of one session, living in a kernel between cells."""

    def __init__(self, session_path: str | os.PathLike, party: str, key_path: str | os.PathLike | None = None):
        self.session_path = Path(session_path).resolve()
        log_to_folder_from_env(party)
        self.party = Party(session_path, party, key_path=key_path)
        self.config = self.party.config
        self.name = party
        self.private_names: list[str] = []
        self.ranges: dict[str, tuple[float, float]] = {}  # --range: public [min, max] per name
        self.kept: dict[str, object] = {}
        self.audit = AuditChain(
            audit_path(self.config.directory, party), party, self.config.session_id, self.party.signer
        )
        self.last_outcome: CellOutcome | None = None
        self.cells_run = 0

    # ----- connection ---------------------------------------------------------------------------
    def connect(self, timeout: float | None = None, on_wait=None) -> None:
        self.party.connect(timeout, on_wait)
        assert self.party.mesh is not None
        self.policy_status()  # announce this site's policy from the first ping on
        self.party.mesh.start_service()

    @property
    def connected(self) -> bool:
        return self.party.mesh is not None

    def disconnect(self) -> None:
        self.party.close()

    def status(self) -> dict:
        """Peers (connected, round-trip ms), the dealer, the preprocessing stock, kept names."""
        peers = self.party.mesh.peer_status() if self.party.mesh else {}
        rows = []
        for name in self.config.names:
            if name == self.name:
                rows.append(
                    {
                        "name": name,
                        "role": "this site",
                        "connected": True,
                        "rtt_ms": None,
                        "fingerprint": fingerprint(self.config.parties[self.config.index(name)].public_key),
                    }
                )
            else:
                info = peers.get(name, {})
                rtt = info.get("rtt_s")
                rows.append(
                    {
                        "name": name,
                        "role": "party",
                        "connected": bool(info.get("connected")),
                        "rtt_ms": None if rtt is None else rtt * 1000,
                        "fingerprint": fingerprint(self.config.parties[self.config.index(name)].public_key),
                    }
                )
        if self.config.dealer is not None:
            info = peers.get(self.config.dealer.name, {})
            rtt = info.get("rtt_s")
            rows.append(
                {
                    "name": self.config.dealer.name,
                    "role": "dealer",
                    "connected": bool(info.get("connected")),
                    "rtt_ms": None if rtt is None else rtt * 1000,
                    "fingerprint": fingerprint(self.config.dealer.public_key),
                }
            )
        return {
            "session": self.config.session_id,
            "me": self.name,
            "peers": rows,
            "stock": (stock := self.party.store.stock()),
            "stock_summary": self.party.suite.stock_summary(stock, self.config.frac_bits),
            "private": list(self.private_names),
            "kept": sorted(self.kept),
            "cells_run": self.cells_run,
            "policy": self.policy_status(),
            "protocol": self.party.suite.describe(self.config.n_parties, self.config.protocol_options),
            "needs_dealer": self.party.suite.needs_dealer,
        }

    def policy_status(self) -> dict:
        """This site's policy (file and rules) and the strictest rules of all sites: those the
        last cell ran under, or before any cell those the sites announce (each cell checks
        them again in its rendezvous)."""
        path = policy_path(self.party.key_path)
        try:
            mine = site_policy(self.party.key_path)
        except SmpcError:
            mine = self.party.policy
        self._announce(mine)
        own = strictest({self.name: mine}).describe()
        if self.last_outcome is not None:
            return {
                "path": str(path) if mine else None,
                "own": own,
                "effective": self.last_outcome.policy,
                "from": "cell",
            }
        known = {self.name: mine, **self._announced_policies()}
        policies = {site: known[site] for site in self.config.names if site in known}  # in session order
        announced = strictest(policies).describe() if len(policies) == self.config.n_parties else []
        return {"path": str(path) if mine else None, "own": own, "effective": announced, "from": "announced"}

    def _announce(self, policy: SitePolicy | None) -> None:
        """Publish this site's policy with the pings, so the others' panels can show the rules."""
        if self.party.mesh is not None:
            self.party.mesh.announcement = {"policy": policy.as_dict() if policy else {}}

    def _announced_policies(self) -> dict[str, SitePolicy | None]:
        out: dict[str, SitePolicy | None] = {}
        for site, about in (self.party.mesh.announcements if self.party.mesh else {}).items():
            data = about.get("policy")
            if site in self.config.names and isinstance(data, dict):
                try:
                    out[site] = SitePolicy.from_mapping(data, f"the policy site {site!r} announced") if data else None
                except SmpcError:
                    continue
        return out

    # ----- private names ------------------------------------------------------------------------
    def mark_private(
        self,
        names: list[str],
        values: dict[str, object] | None = None,
        value_range: tuple[float, float] | None = None,
        ranges_from: Any = None,
    ) -> None:
        """Mark notebook variables as this site's secret inputs; with a study schema, their
        data is checked against it now (and again when a cell uses them). ``value_range`` is a
        public [min, max] for plain arrays, so that operations on them know their magnitude;
        ``ranges_from`` a released ``smpc.stats.envelope`` (ranges per column or array name)."""
        for name in names:
            if not name.isidentifier():
                raise CellError(f"{name!r} is not a variable name")
        values, row_sources = split_streamed(values or {})
        for name, source in row_sources.items():  # one pass over the rows now, one block at a time
            if value_range is not None:
                raise SchemaError(
                    f"--range is for arrays; give the ranges of {name!r} in rows(..., ranges=) or a schema"
                )
            codec, frac_bits = self.party.suite.codec, self.config.frac_bits
            LocalStream(name, source, self.party.schema, codec, frac_bits, self.name).validate()
        if self.party.schema is not None and values:
            _, violations = flatten_with_schema(values, self.party.schema)
            require_conformance_of(self.party.schema, violations, f"private data {', '.join(map(repr, values))}")
        elif values:  # without a schema: NaN, infinities, text and magnitudes are checked now, not at a cell
            codec, frac_bits = self.party.suite.codec, self.config.frac_bits
            for name, value in values.items():
                for key, arr in flatten_private(name, value).items():
                    codec.encode_input(arr, frac_bits, f"private input {key!r} of site {self.name!r}")
        if value_range is not None:
            lo, hi = (float(v) for v in value_range)
            if not lo <= hi:
                raise SchemaError(f"--range {lo:g} {hi:g}: the minimum must not exceed the maximum")
            if any(is_dataframe(v) for v in (values or {}).values()):
                raise SchemaError(
                    "--range is for arrays and series; give a data frame's column ranges in a study schema"
                )
            flat = {n: np.asarray(v) for n, v in (values or {}).items()}
            _, broken = site_ranges(flat, {n: (lo, hi) for n in names}, self.party.schema)
            if broken:
                raise SchemaError(
                    "; ".join(v.local_detail for v in broken) + ". Nothing was marked; fix the data or the range."
                )
            self.ranges.update({n: (lo, hi) for n in names})
        if ranges_from is not None:
            self.ranges.update(self._ranges_from(names, values or {}, ranges_from))
        for name in names:
            if name not in self.private_names:
                self.private_names.append(name)

    def _ranges_from(
        self, names: list[str], values: dict[str, object], envelope: Any
    ) -> dict[str, tuple[float, float]]:
        """The envelope's range of each array and frame column among ``names``, keyed as the
        inputs are (``cohort/age``), checked against this site's data now."""
        if not hasattr(envelope, "ranges") or not callable(envelope.ranges):
            raise SchemaError("--ranges-from takes a released smpc.stats.envelope (env = smpc.stats.envelope(cohort))")
        known = envelope.ranges()
        chosen: dict[str, tuple[float, float]] = {}
        flat: dict[str, np.ndarray] = {}
        for name in names:
            for key, arr in flatten_private(name, values[name]).items():
                column = split_key(key)[1] or key
                if column in known and (self.party.schema is None or self.party.schema.variable(column) is None):
                    chosen[key], flat[key] = known[column], np.asarray(arr)
        if not chosen:
            raise SchemaError(
                f"--ranges-from: the envelope covers {', '.join(known) or 'nothing'}, none of them in "
                f"{', '.join(names)} (or their ranges are in the study schema)"
            )
        _, broken = site_ranges(flat, chosen, self.party.schema)
        if broken:  # (another site's envelope, or the data changed since)
            raise SchemaError(
                "; ".join(v.local_detail for v in broken) + ". Nothing was marked; compute the envelope again."
            )
        return chosen

    def clear_private(self, names: list[str]) -> None:
        for name in names or list(self.private_names):
            if name in self.private_names:
                self.private_names.remove(name)
            for key in [k for k in self.ranges if split_key(k)[0] == name]:
                self.ranges.pop(key)

    # ----- offline phase ------------------------------------------------------------------------
    def preprocess(self, needs: list[MaterialNeed], progress=None, batches: int = 10) -> None:
        """Fill the store from the dealer, in batches so a progress bar can move."""
        total = sum(need.count for need in needs)
        done = 0
        for need in needs:
            step = max(1, -(-need.count // batches))
            have = 0
            while have < need.count:
                have = min(need.count, have + step)
                self.party.preprocess([MaterialNeed(need.kind, need.params, have)])
                done += min(step, need.count)
                if progress is not None:
                    progress(min(done, total), total)

    # ----- online phase -------------------------------------------------------------------------
    def run_cell(
        self,
        code: str,
        user_ns: dict,
        *,
        reveal: list[str],
        to: list[str] | None,
        public: list[str],
        keep: list[str],
        timeout: float | None = None,
        on_round=None,
        partial: list[str] | None = None,
        join_timeout: float | None = None,
        on_wait=None,
    ) -> CellOutcome:
        if not self.connected:
            raise SmpcError("not connected to a session; run `%smpc connect SESSION --as PARTY` first")
        try:
            private, public_values = self._cell_values(code, user_ns, public)
        except SmpcError as exc:
            self.party.withdraw(code, exc)  # the others, waiting for this site, stop at once
            raise
        started = datetime.datetime.now(datetime.UTC)
        call = call_digest(code, reveal=reveal, to=to, public=public, keep=keep, partial=partial or [])
        try:
            outcome = self.party.run(
                code,
                private,
                public=public_values,
                reveal_names=reveal,
                to=to,
                keep=self.kept,
                keep_names=keep,
                timeout=timeout,
                on_round=on_round,
                ranges={n: r for n, r in self.ranges.items() if split_key(n)[0] in private},
                partial=partial or [],
                join_timeout=join_timeout,
                on_wait=on_wait,
            )
        except MissingContributionError as exc:
            self._record_failure(call, started, exc, code)
            if self.name in exc.sites and exc.name in user_ns:
                raise MissingContributionError(
                    f"{exc} This site has a notebook variable {exc.name!r} that is not marked private: "
                    f"run `%smpc private {exc.name}` here if it holds this site's rows.",
                    name=exc.name,
                    sites=exc.sites,
                ) from None
            raise
        except BaseException as exc:  # an interrupt too: the log says the cell was cancelled
            self._record_failure(call, started, exc, code)
            raise
        self.kept.update(outcome.kept)
        self.cells_run += 1
        self.last_outcome = outcome
        self.audit.append(
            {
                "time": started.isoformat(),
                "status": "ok",
                "cell_sha256": call,  # the cell and every argument of the magic
                "released": outcome.released,
                "shapes": outcome.shapes,
                "recipients": outcome.recipients,
                "received": outcome.values is not None,
                "values": released_values(outcome.values),  # what left, as this site received it
                "parties": outcome.parties,
                "computation": outcome.computation,
                "kept": sorted(outcome.kept),
                "contributors": outcome.contributors,
                "code": code,
                "arguments": {"reveal": reveal, "to": to, "public": public, "keep": keep, "partial": partial or []},
                "rules": outcome.rules,  # every disclosure rule checked, and that it passed
                "checks_opened": CHECK_BITS,  # what the cell opened besides its releases
                "policy": [list(row) for row in outcome.policy],
                "policy_digests": outcome.policy_digests,
                "policy_changed": outcome.policy_changed,
                "approval": outcome.approval,
                "material": outcome.material,
                "protocol_notices": outcome.notices,  # e.g. a site named for a corrected false share
            }
        )
        return outcome

    def _cell_values(self, code: str, user_ns: dict, public: list[str]) -> tuple[dict, dict]:
        """This site's private values the cell uses, and its --public values, from the notebook."""
        used = analyse(code).free
        private = {}
        for name in self.private_names:
            if name in used:
                if name not in user_ns:
                    raise CellError(
                        f"{name!r} is marked private but is not defined in this notebook; define it or `%smpc private --clear {name}`"
                    )
                private[name] = user_ns[name]
        public_values = {}
        for name in public:
            if name not in user_ns:
                raise CellError(f"--public {name}: no variable {name!r} in this notebook")
            public_values[name] = user_ns[name]
        return private, public_values

    def _record_failure(self, call: str, started: datetime.datetime, exc: BaseException, code: str) -> None:
        record: dict[str, Any] = {
            "time": started.isoformat(),
            "status": "failed",
            "error": type(exc).__name__,  # never the text: it may describe private inputs
            "step": getattr(exc, "smpc_step", getattr(exc, "step", None)),
            "cell_sha256": call,
            "code": code,
            "released": [],
            "recipients": [],
        }
        if isinstance(exc, DisclosureError):  # the rule and the name are public; the values never were
            record.update(status="withheld", rule=exc.rule, name=exc.name)
        if isinstance(exc, ApprovalRequiredError):
            record.update(approval={"digest": exc.digest, "missing": list(exc.sites)})
        self.audit.append(record)


def call_digest(code: str, **arguments: object) -> str:
    """sha256 of a cell and the arguments it ran with (--reveal, --to, --public, --keep,
    --partial): two runs of one body with different releases get different digests."""
    import hashlib
    import json

    payload = json.dumps({"cell": code, **{k: v for k, v in sorted(arguments.items())}}, sort_keys=True, default=list)
    return hashlib.sha256(payload.encode()).hexdigest()


def as_user_value(value):
    """What a recipient's notebook gets: numpy values, a DataFrame for released frames, a
    result object (with ``summary()``) for released statistics."""
    if isinstance(value, ReleasedResult):
        return value
    if isinstance(value, dict):
        try:
            import pandas as pd

            return pd.DataFrame(value)
        except ImportError:
            return value
    arr = np.asarray(value)
    return arr.item() if arr.ndim == 0 else arr
