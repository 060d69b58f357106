"""Binds the protocols to the kernel bridge: a channel over the mesh, material from the dealer
through the party's store, and the per-computation agreement round."""

from __future__ import annotations

import hashlib
import time

import numpy as np

from kernel_bridge.errors import BridgeError
from kernel_bridge.mesh import Mesh
from kernel_bridge.store import Chunk, MaterialStore

from .errors import PreprocessingError
from .protocols.channel import Channel, ChannelMismatch, ChannelStats, Message, check_arrays
from .protocols.material import KINDS, MaterialSource, PartyMaterial, expand_share, params_to_json, stream_key


class BridgeMaterial(MaterialSource):
    """Material from this party's store, fetched from the dealer when the stock runs short.

    Keeps a running digest of what it handed out; the channel sends it with every message so
    parties that drew different material find out at the next round instead of computing garbage.
    """

    def __init__(self, mesh: Mesh, store: MaterialStore, party: int):
        self.mesh = mesh
        self.store = store
        self.party = party
        self._digest = hashlib.sha256()
        self.taken: dict[str, int] = {}
        self.log: list[tuple[str, tuple, int]] = []  # (kind, params, units) of every take

    @property
    def digest(self) -> str:
        return self._digest.hexdigest()[:16]

    def ensure(self, kind: str, params: tuple, count: int) -> None:
        """Make sure ``count`` units of the stream are in the store (the offline phase)."""
        stream = stream_key(kind, params)
        have = self.store.available(stream)
        if have >= count:
            return
        start = self.store.cursor(stream) + have
        try:
            header, arrays = self.mesh.dealer_request(
                "fetch", {"kind": kind, "params": params_to_json(params), "start": start, "count": count - have}
            )
        except BridgeError as exc:
            raise PreprocessingError(f"could not get preprocessing material ({stream}) from the dealer: {exc}") from exc
        self._store_reply(stream, header.meta, arrays)
        if self.store.available(stream) < count:
            raise PreprocessingError(f"the dealer sent too little material for {stream}")

    def _store_reply(self, stream: str, meta: dict, arrays: list[np.ndarray]) -> None:
        if meta.get("stream") != stream or not isinstance(meta.get("chunks"), list):
            raise PreprocessingError(f"the dealer answered with the wrong material (asked for {stream})")
        pos = 0
        for info in meta["chunks"]:
            names = info.get("arrays", [])
            if pos + 1 + len(names) > len(arrays):
                raise PreprocessingError("the dealer's answer is incomplete")
            seed = arrays[pos]
            if seed.dtype != np.uint8 or seed.shape != (32,):
                raise PreprocessingError("the dealer sent a malformed seed")
            parts = dict(zip(names, arrays[pos + 1 : pos + 1 + len(names)]))
            for part in parts.values():
                if part.dtype != np.uint64:
                    raise PreprocessingError("the dealer sent material of the wrong type")
            pos += 1 + len(names)
            origin = str(meta.get("epoch", ""))
            chunk = Chunk(
                stream, int(info["chunk_id"]), int(info["start"]), int(info["length"]), seed.tobytes(), parts, origin
            )
            self.store.add_chunk(chunk)

    def take(self, kind: str, params: tuple, count: int = 1) -> dict[str, np.ndarray]:
        spec = KINDS[kind]
        units = count if spec.flat else 1
        stream = stream_key(kind, params)
        self.ensure(kind, params, units)
        start = self.store.cursor(stream)
        pieces = self.store.reserve(stream, units)
        parts: dict[str, list[np.ndarray]] = {}
        for piece in pieces:
            chunk = piece.chunk
            material = PartyMaterial(chunk.seed, chunk.arrays)
            if spec.flat:
                got = expand_share(kind, params, chunk.length, self.party, material, piece.offset, piece.take)
            else:
                got = expand_share(kind, params, 1, self.party, material)
            for name, arr in got.items():
                parts.setdefault(name, []).append(arr)
        self.store.release(stream)
        # the dealer state each chunk came from is part of the digest: a party holding chunks of an
        # earlier dealer state (its records were lost) is caught at the next round
        origins = ",".join(sorted({p.chunk.origin for p in pieces}))
        self._digest.update(f"{stream}@{start}+{units}:{origins};".encode())
        self.taken[stream] = self.taken.get(stream, 0) + units
        self.log.append((kind, params, units))
        return {name: arrs[0] if len(arrs) == 1 else np.concatenate(arrs) for name, arrs in parts.items()}


class BridgeChannel(Channel):
    """The protocols' channel over the ZeroMQ mesh, for one computation id."""

    def __init__(self, mesh: Mesh, computation: str, material: BridgeMaterial | None = None, on_round=None):
        self.mesh = mesh
        self.on_round = on_round
        self.computation = computation
        self.material = material
        self.party = mesh.me
        self.n_parties = mesh.config.n_parties
        self.party_names = mesh.config.names
        self.stats = ChannelStats()

    def exchange(self, step, label, outgoing, expect):
        self.stats.rounds += 1
        if self.on_round is not None:
            self.on_round(step, label)
        digest = self.material.digest if self.material is not None else ""
        for j, msg in outgoing.items():
            meta = {**msg.meta, "material": digest}
            self.mesh.send(j, "data", self.computation, step, label, msg.arrays, meta)
            self.stats.bytes_sent += sum(np.asarray(a).nbytes for a in msg.arrays)
            self.stats.messages_sent += 1
        received = {}
        for j, spec in expect.items():
            started = time.perf_counter()
            header, arrays = self.mesh.recv(j, self.computation, step, label)
            self.stats.wait_seconds += time.perf_counter() - started
            name = self.party_names[j]
            if header.label != label:
                raise ChannelMismatch(
                    f"party {name!r} is at step '{header.label}' while this party is at '{label}' (step {step}); "
                    "the sites are not running the same computation."
                )
            if header.meta.get("material", "") != digest:
                raise PreprocessingError(
                    f"party {name!r} used different preprocessing material by step '{label}'. The sites' "
                    "stores are out of step (a store deleted or copied at one site?); run the cell again."
                )
            check_arrays(arrays, spec, name, label)
            self.stats.bytes_received += sum(a.nbytes for a in arrays)
            received[j] = Message(list(arrays), dict(header.meta))
        return received
