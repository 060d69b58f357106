"""Binds the protocols to the kernel bridge: a channel over the mesh for one computation, and
the dealer link a suite's material source refills from."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from kernel_bridge.errors import BridgeError
from kernel_bridge.mesh import Mesh

from ..errors import PreprocessingError
from ..protocols.base import Array, DealerRequest, MaterialSource
from ..protocols.channel import ArraySpec, Channel, ChannelMismatch, ChannelStats, Message, check_arrays

RoundHook = Callable[[int, str], None]


def dealer_link(mesh: Mesh) -> DealerRequest:
    """Requests to the session's dealer through the mesh; transport errors become
    :class:`PreprocessingError` naming the dealer and the fix."""

    def request(kind: str, meta: dict[str, Any]) -> tuple[dict[str, Any], list[Array]]:
        try:
            header, arrays = mesh.dealer_request(kind, meta)
        except BridgeError as exc:
            what = meta.get("kind", kind)
            raise PreprocessingError(f"could not get preprocessing material ({what}) from the dealer: {exc}") from exc
        return header.meta, arrays

    return request


class BridgeChannel(Channel):
    """The protocols' channel over the ZeroMQ mesh, for one computation id."""

    def __init__(
        self, mesh: Mesh, computation: str, material: MaterialSource | None = None, on_round: RoundHook | None = None
    ):
        self.mesh = mesh
        self.on_round = on_round
        self.computation = computation
        self.material = material
        self.party = mesh.me
        self.n_parties = mesh.config.n_parties
        self.party_names = mesh.config.names
        self.stats = ChannelStats()
        #: a test's fault injection (see smpc_magic.launch.faults): changes what this party sends
        self.outgoing_filter: Callable[[int, str, Sequence[Array]], list[Array]] | None = None

    def exchange(
        self,
        step: int,
        label: str,
        outgoing: Mapping[int, Message],
        expect: Mapping[int, Sequence[ArraySpec] | None],
        before_receive: Callable[[], None] | None = None,
    ) -> dict[int, Message]:
        """Send this round's messages, then take the peers' (``before_receive`` runs in between:
        the rendezvous waits there for every site to join)."""
        self.stats.rounds += 1
        if self.on_round is not None:
            self.on_round(step, label)
        digest = self.material.digest if self.material is not None else ""
        tamper = getattr(self.outgoing_filter, "meta", None)  # a test's fault may change what is declared
        for j, msg in outgoing.items():
            meta = {**msg.meta, "material": digest}
            meta = meta if tamper is None else tamper(j, label, meta)
            arrays = msg.arrays if self.outgoing_filter is None else self.outgoing_filter(j, label, msg.arrays)
            self.mesh.send(j, "data", self.computation, step, label, arrays, meta)
            self.stats.bytes_sent += sum(np.asarray(a).nbytes for a in msg.arrays)
            self.stats.messages_sent += 1
        if before_receive is not None:
            before_receive()
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
