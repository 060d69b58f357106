"""One site's side of a session: connect to the peers and the dealer, run cells securely.

This is the engine path shared by :func:`smpc_magic.simulate` (one OS process per party) and
the Jupyter magics (the party lives inside the site's kernel).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kernel_bridge.keys import load_keypair
from kernel_bridge.mesh import RENDEZVOUS, Mesh
from kernel_bridge.session import SessionConfig, load_session
from kernel_bridge.store import MaterialStore

from . import lib
from .cell import analyse, cell_digest, check_names, public_digest, run_in_sandbox
from .errors import CellError, InputMismatchError, SmpcError
from .frames import COLUMN_SEPARATOR, SecretFrame, flatten_private, split_key
from .protocols.channel import ArraySpec, Message
from .protocols.context import ProtocolContext
from .runtime import BridgeChannel, BridgeMaterial
from .secure_array import SecretArray, reveal
from .sharing.prg import expand, new_seed
from .sharing.ring import encode, ring_op

SEED_SPEC = ArraySpec("uint8", (32,))
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INPUT_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(/[^/\x00-\x1f]{1,200})?$")


@dataclass
class CellOutcome:
    """What one party learned from a cell, and what it records in the audit log."""

    values: dict[str, np.ndarray] | None
    released: list[str]
    recipients: list[str]
    shapes: dict[str, list[int]]
    cell_sha256: str
    parties: list[str]
    computation: str
    rounds: int = 0
    bytes_sent: int = 0
    material: dict[str, int] = field(default_factory=dict)
    cursors_start: dict[str, int] = field(default_factory=dict)
    kept: dict[str, object] = field(default_factory=dict)


@dataclass
class _Input:
    share: np.ndarray
    scale: int


class Party:
    """A connected party of a session."""

    def __init__(
        self,
        session: str | os.PathLike | SessionConfig,
        name: str,
        *,
        key_path: str | os.PathLike | None = None,
        store_dir: str | os.PathLike | None = None,
        record_path: str | None = None,
    ):
        self.config = session if isinstance(session, SessionConfig) else load_session(session)
        self.name = name
        self.index = self.config.index(name)
        self.keys = load_keypair(key_path or self.config.default_key_path(name))
        self.store = MaterialStore(store_dir or Path(self.config.directory) / "store" / name)
        self.record_path = record_path
        self.mesh: Mesh | None = None
        self.last_run_stats = None  # rounds and bytes of the last run, finished or failed

    # ----- connection ---------------------------------------------------------------------------
    def connect(self, timeout: float | None = None) -> None:
        """Open the CurveZMQ connections and wait until every peer and the dealer answer."""
        if self.mesh is None:
            self.mesh = Mesh(self.config, self.name, self.keys, record_path=self.record_path)
        self.mesh.wait_for_peers(timeout)

    def close(self) -> None:
        if self.mesh is not None:
            self.mesh.close()
            self.mesh = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _require_mesh(self) -> Mesh:
        if self.mesh is None:
            raise SmpcError("this party is not connected; call connect() (or %smpc connect) first")
        return self.mesh

    # ----- offline phase ------------------------------------------------------------------------
    def preprocess(self, kind: str, params: tuple = (), count: int = 1) -> None:
        """Fetch material ahead of time into the store (e.g. ``("mul", (), 10**6)``)."""
        material = BridgeMaterial(self._require_mesh(), self.store, self.index)
        material.ensure(kind, tuple(params), count)

    # ----- online phase -------------------------------------------------------------------------
    def run(
        self,
        code: str,
        private: dict[str, object] | None = None,
        *,
        public: dict[str, object] | None = None,
        reveal_names: list[str] | tuple[str, ...] = (),
        to: list[str] | None = None,
        computation: str | None = None,
        keep: dict[str, object] | None = None,
        keep_names: list[str] | tuple[str, ...] = (),
        timeout: float | None = None,
        on_round=None,
    ) -> CellOutcome:
        """Run ``code`` with the peers; return the revealed values this party receives.

        Everything that can be checked locally is checked before any message is sent. The first
        round (the rendezvous) compares the cell, its arguments, public values and declared
        inputs with every peer; only then are inputs shared. ``keep`` holds secrets kept from
        earlier cells; ``keep_names`` are the names of this cell to keep, still shared.
        ``computation`` fixes the computation id (simulate); otherwise the parties derive a
        fresh one from nonces exchanged in the rendezvous.
        """
        mesh = self._require_mesh()
        private = dict(private or {})
        public = dict(public or {})
        keep = dict(keep or {})
        names = analyse(code)
        reveal_names, keep_names = list(reveal_names), list(keep_names)
        for name in [*reveal_names, *keep_names, *private, *public]:
            if not _IDENT.match(name):
                raise CellError(f"{name!r} is not a valid variable name")
        for a, b, what in [
            (private, public, "private and public"),
            (private, keep, "private and kept"),
            (public, keep, "public and kept"),
        ]:
            overlap = set(a) & set(b)
            if overlap:
                raise CellError(f"{sorted(overlap)[0]!r} is both {what}; choose one")
        recipients = self._recipients(to)
        encoded: dict[str, _Input] = {}
        for name, value in private.items():
            for key, arr in flatten_private(name, value).items():
                what = f"private input {key!r} of party {self.name!r}"
                encoded[key] = _Input(*encode(arr, self.config.frac_bits, what=what))
        code_sha = cell_digest(code)
        nonce = new_seed().hex()[:32]
        rendezvous = computation or RENDEZVOUS
        material = BridgeMaterial(mesh, self.store, self.index)
        channel = BridgeChannel(mesh, rendezvous, material, on_round=on_round)
        ctx = ProtocolContext(channel, material, self.config.frac_bits)
        saved_timeout = mesh.timeout
        if timeout is not None:
            mesh.timeout = float(timeout)
        label = "agree on the cell"
        mesh.busy = True
        try:
            if computation is not None:
                mesh.forget_all_but(computation)
            else:
                mesh.purge_withdrawn()
            seeds = {j: new_seed() for j in range(self.config.n_parties) if j != self.index}
            my_meta = {
                "nonce": nonce,
                "cell": code_sha,
                "reveal": reveal_names,
                "to": [self.config.names[i] for i in recipients],
                "keep_names": keep_names,
                "public": public_digest(public),
                "public_names": sorted(public),
                "inputs": {k: {"shape": list(v.share.shape), "scale": v.scale} for k, v in encoded.items()},
                "cursors": self.store.cursors(),
                "frac_bits": self.config.frac_bits,
                "kept": sorted(set(keep) & names.free),
            }
            outgoing = {j: Message([np.frombuffer(seed, np.uint8)], my_meta) for j, seed in seeds.items()}
            received = channel.exchange(0, label, outgoing, {j: [SEED_SPEC] for j in seeds})
            metas = {j: _validated_meta(self.config.names[j], msg.meta) for j, msg in received.items()}
            if computation is None:
                nonces = [
                    my_meta["nonce"] if i == self.index else metas[i]["nonce"] for i in range(self.config.n_parties)
                ]
                channel.computation = hashlib_hex(":".join(nonces))
            self._check_agreement(my_meta, metas)
            self.store.advance(_max_cursors([my_meta["cursors"], *(m["cursors"] for m in metas.values())]))
            cursors_start = self.store.cursors()
            label = "share the inputs"
            declared = {self.index: my_meta["inputs"], **{j: m["inputs"] for j, m in metas.items()}}
            variables = {split_key(k)[0] for d in declared.values() for k in d}
            check_names(names, variables, set(public), set(keep))
            seeds_received = {j: msg.arrays[0].tobytes() for j, msg in received.items()}
            secrets_ns = self._share_inputs(ctx, encoded, declared, seeds, seeds_received)
            label = "run the cell"
            kept_ns = {k: _rebind(v, ctx) for k, v in keep.items()}
            namespace = {"np": np, "numpy": np, "smpc": lib, **kept_ns, **public, **secrets_ns}
            run_in_sandbox(code, namespace)
            label = "reveal"
            values, shapes = self._reveal(namespace, reveal_names, recipients, to is not None)
            kept_out = {}
            for name in keep_names:
                if not isinstance(namespace.get(name), SecretArray | SecretFrame):
                    raise CellError(f"--keep {name}: the cell did not leave a secret named {name!r}")
                kept_out[name] = namespace[name]
            self.last_namespace = namespace
            return CellOutcome(
                values,
                reveal_names,
                [self.config.names[i] for i in recipients],
                shapes,
                code_sha,
                self.config.names,
                channel.computation,
                channel.stats.rounds,
                channel.stats.bytes_sent,
                dict(material.taken),
                cursors_start,
                kept_out,
            )
        except Exception as exc:
            mesh.broadcast_abort(channel.computation, label, f"{type(exc).__name__}: {exc}", withdraw=nonce)
            raise
        finally:
            mesh.busy = False
            mesh.timeout = saved_timeout
            mesh.forget(channel.computation)
            self.last_run_stats = channel.stats

    def _reveal(self, namespace, reveal_names, recipients, targeted) -> tuple[dict | None, dict]:
        to_open, plain, frames = {}, {}, {}
        for name in reveal_names:
            if name not in namespace:
                raise CellError(f"--reveal {name}: the cell never assigned {name!r}")
            value = namespace[name]
            if isinstance(value, SecretArray):
                to_open[name] = value
            elif isinstance(value, SecretFrame):
                frames[name] = value.columns
                for column in value.columns:
                    to_open[f"{name}{COLUMN_SEPARATOR}{column}"] = value[column]
            else:
                arr = np.asarray(value)
                if arr.dtype.kind not in "biuf":
                    raise CellError(f"--reveal {name}: only numbers and secret arrays can be released")
                plain[name] = arr
        opened = reveal(to_open, to=recipients if targeted else None) if to_open else {}
        shapes = {k: list(np.shape(namespace[k])) for k in reveal_names}
        if self.index not in recipients:
            return None, shapes
        opened = opened or {}
        values = {}
        for name in reveal_names:
            if name in frames:
                values[name] = {c: opened[f"{name}{COLUMN_SEPARATOR}{c}"] for c in frames[name]}
            else:
                values[name] = plain[name] if name in plain else opened[name]
        return values, shapes

    # ----- helpers ------------------------------------------------------------------------------
    def _recipients(self, to: list[str] | None) -> list[int]:
        if to is None or to == ["all"] or to == "all":
            return list(range(self.config.n_parties))
        out = []
        for name in to:
            if name not in self.config.names:
                raise CellError(f"--to {name}: not a party of this session (parties: {', '.join(self.config.names)})")
            out.append(self.config.index(name))
        return sorted(set(out))

    def _check_agreement(self, mine: dict, metas: dict[int, dict]) -> None:
        checks = [
            ("cell", "runs a different cell"),
            ("reveal", "reveals different names (--reveal)"),
            ("to", "releases to different parties (--to)"),
            ("public_names", "passes different public names (--public)"),
            ("public", "has different public values (--public)"),
            ("frac_bits", "uses different fixed-point settings"),
            ("kept", "holds different kept secrets from earlier cells (--keep; lost when a kernel restarts)"),
            ("keep_names", "keeps different names (--keep)"),
        ]
        for key, what in checks:
            differing = [self.config.names[j] for j, m in sorted(metas.items()) if m[key] != mine[key]]
            if differing:
                names = ", ".join(repr(n) for n in differing)
                raise InputMismatchError(
                    f"party {names} {what} than this party ({self.name!r}); nothing was shared. "
                    "Make every site run the identical cell with identical arguments and public values."
                )

    @ring_op
    def _share_inputs(self, ctx, encoded, declared, seeds_sent, seeds_received) -> dict[str, object]:
        """Every party's share of every private input, pooled by name in party order.

        The owner keeps x minus the PRG expansions of the seeds it sent; each peer's share is
        the expansion of the seed it received. No share travels except those 32-byte seeds.
        DataFrame columns (keys ``frame/column``) are regrouped into SecretFrames.
        """
        self._check_frames(declared)
        all_keys = sorted(set().union(*map(set, declared.values())))
        arrays: dict[str, SecretArray] = {}
        for label, key in enumerate(all_keys):
            owners = [i for i in sorted(declared) if key in declared[i]]
            shapes = [tuple(declared[i][key]["shape"]) for i in owners]
            scales = [int(declared[i][key]["scale"]) for i in owners]
            if len(owners) > 1:
                trailing = {s[1:] for s in shapes}
                if len(trailing) > 1 or any(len(s) != len(shapes[0]) for s in shapes):
                    detail = ", ".join(f"{self.config.names[i]} {s}" for i, s in zip(owners, shapes))
                    raise InputMismatchError(
                        f"private {key!r} is pooled from several parties but their shapes do not line up "
                        f"({detail}); rows are stacked, so everything after the first dimension must match."
                    )
            scale = max(scales)
            parts = []
            for owner, shape, own_scale in zip(owners, shapes, scales):
                size = int(np.prod(shape, dtype=np.int64))
                if owner == self.index:
                    share = encoded[key].share.reshape(-1).copy()
                    for seed in seeds_sent.values():
                        share -= expand(seed, label, size)
                else:
                    share = expand(seeds_received[owner], label, size)
                share = share.reshape(shape)
                if own_scale != scale:
                    share = share * np.uint64(1 << (scale - own_scale))
                parts.append(share.reshape(1) if len(owners) > 1 and share.ndim == 0 else share)
            share = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
            arrays[key] = SecretArray(ctx, share, scale)
        out: dict[str, object] = {}
        frames: dict[str, dict[str, SecretArray]] = {}
        column_order: dict[str, list[str]] = {}  # as the first party in session order lists them
        for i in sorted(declared):
            for key in declared[i]:
                frame, column = split_key(key)
                if column is not None and column not in column_order.setdefault(frame, []):
                    column_order[frame].append(column)
        for key, arr in arrays.items():
            frame, column = split_key(key)
            if column is None:
                out[key] = arr
            else:
                frames.setdefault(frame, {})[column] = arr
        for frame, columns in frames.items():
            out[frame] = SecretFrame({c: columns[c] for c in column_order[frame]})
        return out

    def _check_frames(self, declared) -> None:
        """A frame pooled by several sites needs the same columns everywhere."""
        layouts: dict[str, dict[int, frozenset | None]] = {}
        for i in sorted(declared):
            for key in declared[i]:
                frame, column = split_key(key)
                cols = layouts.setdefault(frame, {})
                if column is None:
                    cols[i] = None
                else:
                    prev = cols.get(i, frozenset())
                    cols[i] = (prev or frozenset()) | {column}
        for frame, per_party in layouts.items():
            kinds = set(per_party.values())
            if len(kinds) > 1:
                detail = "; ".join(
                    f"{self.config.names[i]}: " + ("an array" if c is None else f"columns {sorted(c)}")
                    for i, c in per_party.items()
                )
                raise InputMismatchError(
                    f"private {frame!r} is pooled from several parties but does not have the same layout everywhere "
                    f"({detail}). Harmonise the column sets before the analysis."
                )


def _rebind(value, ctx: ProtocolContext):
    """A secret kept from an earlier cell, attached to this computation's context."""
    if isinstance(value, SecretFrame):
        return SecretFrame({c: _rebind(value[c], ctx) for c in value.columns})
    return SecretArray(ctx, value._share, value._scale)


def hashlib_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _max_cursors(all_cursors: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for cursors in all_cursors:
        for stream, pos in cursors.items():
            out[stream] = max(out.get(stream, 0), int(pos))
    return out


def _validated_meta(sender: str, meta: dict) -> dict:
    """Check the shape of a peer's agreement message before trusting any field of it."""

    def bad(what):
        return InputMismatchError(
            f"party {sender!r} sent a malformed agreement message ({what}); is it running the same smpc_magic version?"
        )

    required = {
        "cell": str,
        "reveal": list,
        "to": list,
        "public": str,
        "public_names": list,
        "inputs": dict,
        "cursors": dict,
        "frac_bits": int,
        "kept": list,
    }
    for key, typ in required.items():
        if not isinstance(meta.get(key), typ):
            raise bad(key)
    for name, info in meta["inputs"].items():
        if not isinstance(name, str) or not _INPUT_KEY.match(name) or not isinstance(info, dict):
            raise bad("inputs")
        shape, scale = info.get("shape"), info.get("scale")
        if (
            not isinstance(shape, list)
            or len(shape) > 8
            or not all(isinstance(v, int) and 0 <= v < 1 << 40 for v in shape)
        ):
            raise bad("input shape")
        if not isinstance(scale, int) or not 0 <= scale <= 62:
            raise bad("input scale")
    for stream, pos in meta["cursors"].items():
        if not isinstance(stream, str) or not isinstance(pos, int) or pos < 0:
            raise bad("cursors")
    return meta
