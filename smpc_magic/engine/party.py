"""One site's side of a session: connect to the peers (and the dealer), run cells securely.

This is the engine path shared by :func:`smpc_magic.simulate` (one OS process per party) and
the Jupyter magics (the party lives inside the site's kernel). ``Party.run`` is the sequence:
check locally, rendezvous, share inputs, run the cell in its sandbox, release.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kernel_bridge.errors import PeerAborted, PeerError
from kernel_bridge.keys import load_keypair
from kernel_bridge.mesh import Mesh
from kernel_bridge.session import SessionConfig, load_session
from kernel_bridge.store import MaterialStore

from ..errors import (
    CellError,
    DisclosureError,
    EncodingError,
    NumericalRangeError,
    OverflowRiskError,
    PolicyError,
    SchemaError,
    SecretValueError,
    SmpcError,
)
from ..governance.approvals import ApprovalBook
from ..governance.disclosure import ReleaseFacts, check_releases
from ..governance.policy import SitePolicy, site_policy
from ..governance.signing import SigningKey
from ..protocols.base import Array, MaterialNeed, MaterialSource
from ..protocols.channel import ChannelStats, Message
from ..protocols.context import ProtocolContext
from ..protocols.prg import new_seed
from ..protocols.registry import get_suite
from ..schema import load_schema
from ..stats import checks
from . import inputs, oversight, public_functions, rendezvous, stops, streams
from .cell_policy import check_column_attributes
from .outcome import CellOutcome
from .release import check_accuracy, error_bounds, fractional_bits, kept_secrets, rebind, release
from .runtime import BridgeChannel, RoundHook, dealer_link
from .sandbox import analyse, cell_digest, check_names, check_names_locally, public_digest, run_in_sandbox
from .schema_inputs import declared_ranges, flatten_with_schema, refusals_for_peers, site_ranges

log = logging.getLogger("smpc_magic.engine")  # events, steps and public names only, never a value

#: ``on_wait(joined, awaited, seconds)`` while a site waits for the others to run the cell
WaitHook = Callable[[list[str], list[str], float], None]

#: Errors every party meets by itself at the same point, from public facts or an opened bit: no
#: abort is sent (it could overtake a peer's last message and blame the wrong site)
EVERY_SITE_STOPS = (
    DisclosureError,
    NumericalRangeError,
    SecretValueError,
    CellError,
    OverflowRiskError,
)


class Party:
    """A connected party of a session."""

    def __init__(
        self,
        session: str | os.PathLike[str] | SessionConfig,
        name: str,
        *,
        key_path: str | os.PathLike[str] | None = None,
        store_dir: str | os.PathLike[str] | None = None,
        record_path: str | None = None,
        policy: SitePolicy | None | str = "file",
    ):
        self.config = session if isinstance(session, SessionConfig) else load_session(session)
        self.suite = get_suite(self.config.protocol)
        if self.suite.needs_dealer and self.config.dealer is None:
            raise SmpcError(f"the {self.config.protocol!r} protocol needs a [dealer] in the session file")
        try:
            self.suite.check_options(self.config.n_parties, self.config.protocol_options)
        except ValueError as exc:
            raise SmpcError(f"{self.config.path}: {exc}") from None
        self.name = name
        self.index = self.config.index(name)
        self.key_path = Path(key_path or self.config.default_key_path(name))
        self.keys = load_keypair(self.key_path)
        self.signer = SigningKey(self.keys)  # the site's audit key (the kernel writes the audit log)
        #: this site's custodian's policy (beside the key file) and approvals; peers see the policy.
        #: The approvals are checked with the custodian's public key only: this side cannot sign one
        self._policy_from_file = isinstance(policy, str)
        self.policy: SitePolicy | None = site_policy(self.key_path) if isinstance(policy, str) else policy
        self.approvals = ApprovalBook(self.key_path)
        self.policy_digests: dict[str, str] = {}  # site -> policy digest seen in the last rendezvous
        self.kept_facts: dict[str, ReleaseFacts] = {}  # kept secret -> the rows behind it, for later releases
        self.schema = load_schema(self.config.schema_path) if self.config.schema_path else None
        self.store = MaterialStore(store_dir or Path(self.config.directory) / "store" / name)
        self.record_path = record_path
        self.mesh: Mesh | None = None
        self.last_run_stats: ChannelStats | None = None  # rounds and bytes of the last run, finished or failed
        #: tests only: a filter on what this party sends (smpc_magic.launch.faults)
        self.outgoing_filter: Callable[[int, str, Sequence[Array]], list[Array]] | None = None

    # ----- connection ---------------------------------------------------------------------------
    def connect(self, timeout: float | None = None, on_wait: Callable[[list[str], float], None] | None = None) -> None:
        """Open the CurveZMQ connections and wait until every peer and the dealer answer
        (``on_wait(absent, seconds)`` meanwhile)."""
        if self.mesh is None:
            self.mesh = Mesh(self.config, self.name, self.keys, record_path=self.record_path, lobby=rendezvous.LOBBY)
        self.mesh.wait_for_peers(timeout, on_wait=on_wait)

    def close(self) -> None:
        if self.mesh is not None:
            self.mesh.close()
            self.mesh = None

    def __enter__(self) -> Party:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _require_mesh(self) -> Mesh:
        if self.mesh is None:
            raise SmpcError("this party is not connected; call connect() (or %smpc connect) first")
        return self.mesh

    def material(self) -> MaterialSource:
        """A material source over this party's store (refilled from the dealer, if any)."""
        mesh = self._require_mesh()
        return self.suite.material_source(self.index, self.store, dealer_link(mesh) if self.config.dealer else None)

    def context(self, computation: str, on_round: RoundHook | None = None) -> ProtocolContext:
        """A protocol context for one computation id over this party's mesh."""
        material = self.material()
        channel = BridgeChannel(self._require_mesh(), computation, material, on_round=on_round)
        channel.outgoing_filter = self.outgoing_filter
        options = dict(self.config.protocol_options)
        serial = int.from_bytes(hashlib.blake2b(computation.encode(), digest_size=6).digest(), "little") << 16
        return ProtocolContext(channel, material, self.suite, self.config.frac_bits, options=options, serial=serial)

    # ----- offline phase ------------------------------------------------------------------------
    def preprocess(self, needs: Sequence[MaterialNeed]) -> None:
        """Fetch material ahead of time into the store (see ``suite.preprocessing_plan``)."""
        material = self.material()
        for need in needs:
            material.ensure(need.kind, need.params, need.count)

    # ----- online phase -------------------------------------------------------------------------
    def run(
        self,
        code: str,
        private: Mapping[str, object] | None = None,
        *,
        public: Mapping[str, object] | None = None,
        reveal_names: Sequence[str] = (),
        to: list[str] | None = None,
        computation: str | None = None,
        keep: dict[str, object] | None = None,
        keep_names: Sequence[str] = (),
        timeout: float | None = None,
        on_round: RoundHook | None = None,
        ranges: Mapping[str, tuple[float, float]] | None = None,
        partial: Sequence[str] = (),
        join_timeout: float | None = None,
        on_wait: WaitHook | None = None,
        cpu_seconds: float | None = None,
    ) -> CellOutcome:
        """Run ``code`` with the peers; return the revealed values this party receives.

        Everything that can be checked locally is checked before any message is sent. The
        rendezvous compares the cell, its arguments, public values and declared inputs with every
        peer; only then are inputs shared. ``keep`` holds secrets kept from earlier cells;
        ``keep_names`` are the names of this cell to keep, still shared. ``computation`` fixes the
        computation id (simulate); otherwise the parties derive a fresh one in the rendezvous.
        ``ranges`` are public [min, max] this site declares for plain private arrays.
        ``partial``: private names the cell lets come from some sites only; any other private
        name it uses must be provided by every site. ``join_timeout``: how long to wait for the
        other sites to run the cell (the session's by default); ``on_wait(joined, awaited,
        seconds)`` is called meanwhile. If this site cannot take part (a local error, an
        interrupt), it tells the others at once. ``cpu_seconds``: the CPU time the cell's own
        evaluation may take here (the session's ``cell_cpu_seconds`` by default).
        """
        try:  # a site that cannot take part (a local error, an interrupt) tells the others at once
            mesh = self._require_mesh()
            policy_error: PolicyError | None = None
            if self._policy_from_file:  # the custodian may have changed it since the last cell
                try:
                    self.policy = site_policy(self.key_path)
                except PolicyError as exc:  # still join the rendezvous, so every site stops at once
                    policy_error, self.policy = exc, None
            private, public, keep = dict(private or {}), dict(public or {}), dict(keep or {})
            reveal_names, keep_names = list(reveal_names), list(keep_names)
            names = analyse(code)
            check_names_locally(reveal_names, keep_names + list(partial), private, public, keep)
            public = public_functions.prepare(public)
            recipients = self._recipients(to)
            private, row_sources = streams.split_streamed(private)
            flat, violations = flatten_with_schema(private, self.schema)
            bounds = declared_ranges(flat, self.schema)
            own_ranges, range_violations = site_ranges(flat, ranges or {}, self.schema)
            bounds.update(own_ranges)
            violations += range_violations
            encoding_error: EncodingError | SchemaError | None = None
            local_streams: dict[str, streams.LocalStream] = {}
            try:
                encoded = (
                    {}
                    if violations
                    else inputs.encode_arrays(flat, self.suite.codec, self.config.frac_bits, self.name, bounds)
                )
                for source_name, source in row_sources.items():
                    local_streams[source_name] = streams.LocalStream(
                        source_name, source, self.schema, self.suite.codec, self.config.frac_bits, self.name
                    )
            except (EncodingError, SchemaError) as exc:  # still join the rendezvous, so every site stops at once
                encoding_error, encoded, local_streams = exc, {}, {}
            ctx = self.context(computation or rendezvous.LOBBY, on_round)
            channel = ctx.channel
            assert isinstance(channel, BridgeChannel)
            nonce = new_seed().hex()[:32]
            my_meta: dict[str, Any] = {
                "nonce": nonce,
                "protocol": self.suite.name,
                "cell": cell_digest(code),
                "cell_lines": rendezvous.line_digests(code),
                "reveal": reveal_names,
                "to": [self.config.names[i] for i in recipients],
                "keep_names": keep_names,
                "partial": sorted(set(partial)),
                "public": public_digest(public, nonce),
                "public_names": sorted(public),
                "inputs": {
                    **{k: v.declaration() for k, v in encoded.items()},
                    **{k: d for stream in local_streams.values() for k, d in stream.declarations.items()},
                },
                "protocol_state": self.suite.rendezvous_state(ctx.material),
                "frac_bits": self.config.frac_bits,
                "kept": sorted(set(keep) & names.free),
                "schema": self.schema.digest if self.schema else "",
                "refused": refusals_for_peers(violations),
                "input_error": type(encoding_error).__name__ if encoding_error else "",  # the class, never the text
            }
            request = oversight.cell_request(
                self.config.session_id,
                code,
                reveal=reveal_names,
                to=my_meta["to"],
                public=public,
                schema=my_meta["schema"],
                keep=keep_names,
                partial=partial,
            )
            try:
                my_meta.update(oversight.rendezvous_fields(self.policy, self.approvals, request))
            except PolicyError as exc:  # approvals that cannot be trusted approve nothing; every site stops
                policy_error = policy_error or exc
                my_meta.update(oversight.rendezvous_fields(self.policy, None, request))
            my_meta["policy_error"] = policy_error is not None
            saved_timeout, label = mesh.timeout, "agree on the cell"
            mesh.timeout = float(timeout) if timeout is not None else mesh.timeout
            mesh.busy = True
            try:
                # 1. rendezvous: agree on everything, learn the computation id and sync the material
                if computation is not None:
                    mesh.forget_all_but(computation)
                else:
                    rendezvous.withdraw_stale(mesh)
                sharing = self.suite.input_sharing(ctx)
                outgoing = {j: Message(arrays, my_meta) for j, arrays in sharing.outgoing().items()}
                waiting = float(join_timeout) if join_timeout is not None else self.config.join_timeout
                join = None if computation is not None else lambda: mesh.await_lobby(my_meta["cell"], waiting, on_wait)
                received = channel.exchange(0, label, outgoing, {j: sharing.expected() for j in outgoing}, join)
                declarations = {j: m.meta for j, m in received.items()}
                if computation is None:
                    channel.computation = rendezvous.agreed_computation(self.index, my_meta, declarations)
                log.info(
                    "%s: cell %s agreed, computation %s", self.name, my_meta["cell"][:12], channel.computation[:16]
                )
                rendezvous.confirm_declarations(channel, self.config.names, self.index, my_meta, declarations)
                metas = {j: rendezvous.validate(self.config.names[j], m.meta, self.suite) for j, m in received.items()}
                expected_public = {j: public_digest(public, m["nonce"]) for j, m in metas.items()}
                rendezvous.check_agreement(self.config.names, self.index, my_meta, metas, expected_public, code)
                label = "apply the sites' policies"
                stops.policy_errors(policy_error, metas, self.config.names)
                effective = oversight.effective_policy(self.config.names, self.index, self.policy, metas)
                changed = [
                    s for s, d in effective.digests.items() if s in self.policy_digests and self.policy_digests[s] != d
                ]
                self.policy_digests = dict(effective.digests)
                approved = {
                    self.name: my_meta["approved"],
                    **{self.config.names[j]: m["approved"] for j, m in metas.items()},
                }
                oversight.require_approvals(effective, approved, request, self.name, self.approvals)
                oversight.require_recipients(effective, my_meta["to"])
                label = "check the data against the study schema"
                stops.schema_violations(self.name, self.schema, violations, metas, self.config.names)
                label = "encode the private inputs"
                stops.encoding_errors(encoding_error, metas, self.config.names)
                states = {self.name: my_meta["protocol_state"]}
                states.update({self.config.names[j]: m["protocol_state"] for j, m in metas.items()})
                self.suite.settle_rendezvous(ctx.material, states)
                cursors_start = self.store.cursors()
                # 2. inputs
                label = "share the inputs"
                declared = {self.index: my_meta["inputs"], **{j: m["inputs"] for j, m in metas.items()}}
                check_names(names, inputs.variables(declared), set(public), set(keep))
                provided = inputs.contributors(declared, set(names.free), self.config.names)
                inputs.check_contributors(provided, set(partial), self.config.names)
                check_column_attributes(names.policy, inputs.columns(declared))
                facts, site_rows = oversight.release_facts(declared, set(names.free), self.config.names)
                for name in set(keep) & names.used:  # what a kept secret was computed from still counts
                    facts = facts.merged(self.kept_facts.get(name, ReleaseFacts()))
                oversight.require_site_rows(effective, site_rows, bool(reveal_names))
                sharing.receive({j: m.arrays for j, m in received.items()})
                secrets_ns = inputs.share_inputs(ctx, sharing, encoded, declared, self.config.names, local_streams)
                log.debug("%s: inputs shared: %s", self.name, ", ".join(sorted(secrets_ns)))
                # 3. the cell
                label = "run the cell"
                kept_ns = {k: rebind(v, ctx) for k, v in keep.items()}
                cpu = self.config.cell_cpu_seconds if cpu_seconds is None else cpu_seconds
                namespace = run_in_sandbox(code, {**kept_ns, **public, **secrets_ns}, cpu)
                # 4. disclosure control, then release
                label = "check the releases' accuracy"
                check_accuracy(namespace, reveal_names, ctx.frac_bits)
                label = "check the releases against the sites' policies"
                # the statistics' deferred checks open only where something leaves the cell
                pending = checks.pending(ctx) if reveal_names or keep_names else []
                rules = check_releases(namespace, reveal_names, effective.rules, facts, pending, self.config.names)
                log.debug("%s: releases passed: %s", self.name, ", ".join(sorted({r.rule for r in rules})) or "no rule")
                label = "reveal"
                values, shapes = release(namespace, reveal_names, recipients, self.index, to is not None)
                if self.suite.confirms_release(ctx.options):
                    label = "confirm the release"  # a site whose checks failed has stopped every site
                    peers = [j for j in range(self.config.n_parties) if j != self.index]
                    channel.exchange(ctx.next_step(), label, {j: Message([]) for j in peers}, {j: [] for j in peers})
                scales = fractional_bits(namespace, reveal_names)
                errors = error_bounds(namespace, reveal_names)
                kept_out = kept_secrets(namespace, keep_names)
                self.kept_facts.update({name: facts for name in kept_out})
                namespace.clear()  # nothing of the cell outlives it but what it declared
                log.info(
                    "%s: cell %s released %s to %s (%d rounds, %d bytes sent)",
                    self.name,
                    my_meta["cell"][:12],
                    ", ".join(reveal_names) or "nothing",
                    ", ".join(my_meta["to"]),
                    channel.stats.rounds,
                    channel.stats.bytes_sent,
                )
                return CellOutcome(
                    values,
                    reveal_names,
                    [self.config.names[i] for i in recipients],
                    shapes,
                    my_meta["cell"],
                    self.config.names,
                    channel.computation,
                    channel.stats.rounds,
                    channel.stats.bytes_sent,
                    [{"kind": u.kind, "params": u.params, "count": u.count} for u in ctx.material.usage()],
                    cursors_start,
                    kept_out,
                    provided,
                    scales,
                    code,
                    [r.as_record() for r in rules],
                    effective.describe(),
                    effective.digests,
                    changed,
                    {"digest": request.digest, "required_by": list(effective.approval_sites)},
                    list(ctx.notices),
                    errors=errors,
                )
            except BaseException as exc:
                peer = getattr(exc, "party", None) if isinstance(exc, PeerError) else None
                if not isinstance(exc, EVERY_SITE_STOPS):
                    # a site that stopped because another did is not news for a late site
                    lobby = channel.computation == rendezvous.LOBBY and not isinstance(exc, PeerAborted)
                    cell = my_meta["cell"] if lobby else None
                    cause = exc.cause if isinstance(exc, PeerAborted) else None
                    error = type(exc).__name__
                    mesh.broadcast_abort(channel.computation, label, error, nonce, peer, cell, cause)
                exc.smpc_step = label  # type: ignore[attr-defined]  # for the site's audit log
                # the error's class and the step only: its text may name this site's own data
                log.warning(
                    "%s: cell %s stopped at step: %s (%s)", self.name, my_meta["cell"][:12], label, type(exc).__name__
                )
                exc.smpc_told_peers = True  # type: ignore[attr-defined]
                raise
            finally:
                mesh.attempt_ended()
                mesh.busy = False
                mesh.timeout = saved_timeout
                mesh.forget(channel.computation)
                self.last_run_stats = channel.stats
        except BaseException as exc:
            if not getattr(exc, "smpc_told_peers", False):
                self.withdraw(code, exc)
            raise

    def withdraw(self, code: str, exc: BaseException) -> None:
        """Tell the peers (waiting for this site to run ``code``) that it will not: its error's class only."""
        if self.mesh is not None:
            self.mesh.broadcast_abort(rendezvous.LOBBY, "prepare the cell", type(exc).__name__, cell=cell_digest(code))
            self.mesh.attempt_ended()

    def _recipients(self, to: list[str] | None) -> list[int]:
        if to is None or to == ["all"]:
            return list(range(self.config.n_parties))
        out = []
        for name in to:
            if name not in self.config.names:
                raise CellError(f"--to {name}: not a party of this session (parties: {', '.join(self.config.names)})")
            out.append(self.config.index(name))
        return sorted(set(out))
