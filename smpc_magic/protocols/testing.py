"""Test doubles for protocol unit tests: parties as threads of one process, talking through queues.

For protocol math only; real sessions use :class:`smpc_magic.engine.runtime.BridgeChannel` over
CurveZMQ. Every wait has a timeout, so an out-of-step test fails instead of hanging.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .channel import ArraySpec, Channel, ChannelMismatch, ChannelStats, Message, check_arrays

Envelope = tuple[int, str, Message]


class InMemoryNetwork:
    """Queues between parties that run as threads of one process; ``log`` records every message."""

    def __init__(self, n_parties: int, timeout: float = 30.0):
        self.n_parties = n_parties
        self.timeout = timeout
        self.queues: dict[tuple[int, int], queue.Queue[Envelope]] = {
            (i, j): queue.Queue() for i in range(n_parties) for j in range(n_parties) if i != j
        }
        self.log: list[tuple[int, int, str, list[npt.NDArray[Any]]]] = []
        self.sent: dict[tuple[int, int], tuple[str, list[npt.NDArray[Any]]]] = {}  # (step, sender) -> label, arrays
        self._lock = threading.Lock()

    def channel(self, party: int) -> InMemoryChannel:
        return InMemoryChannel(self, party)

    def opened(self, label: str, combine: Any = np.add) -> list[npt.NDArray[Any]]:
        """The values opened in rounds labelled ``label`` (what every recipient learns): each
        sender's share, as sent, combined across senders (``np.add`` or ``np.bitwise_xor``)."""
        by_step: dict[int, dict[int, list[npt.NDArray[Any]]]] = {}
        with self._lock:
            for (step, sender), (lab, arrays) in self.sent.items():
                if lab == label:
                    by_step.setdefault(step, {})[sender] = arrays
        out = []
        with np.errstate(over="ignore"):
            for senders in by_step.values():
                parts = list(senders.values())
                for k in range(len(parts[0])):
                    total = parts[0][k].copy()
                    for other in parts[1:]:
                        total = combine(total, other[k])
                    out.append(total)
        return out


class InMemoryChannel(Channel):
    def __init__(self, network: InMemoryNetwork, party: int):
        self.network = network
        self.party = party
        self.n_parties = network.n_parties
        self.party_names = [f"p{i}" for i in range(network.n_parties)]
        self.stats = ChannelStats()

    def exchange(
        self,
        step: int,
        label: str,
        outgoing: Mapping[int, Message],
        expect: Mapping[int, Sequence[ArraySpec] | None],
    ) -> dict[int, Message]:
        self.stats.rounds += 1
        for j, msg in outgoing.items():
            arrays = [np.array(a, copy=True) for a in msg.arrays]
            with self.network._lock:
                self.network.log.append((self.party, j, label, arrays))
                self.network.sent.setdefault((step, self.party), (label, arrays))
            self.stats.bytes_sent += sum(a.nbytes for a in arrays)
            self.network.queues[(self.party, j)].put((step, label, Message(arrays, dict(msg.meta))))
        received = {}
        for j, spec in expect.items():
            try:
                got_step, got_label, msg = self.network.queues[(j, self.party)].get(timeout=self.network.timeout)
            except queue.Empty:
                raise ChannelMismatch(f"party p{j} sent nothing at step '{label}'") from None
            if got_step != step:
                raise ChannelMismatch(f"party p{j} is at step {got_step} ({got_label}), this party at {step} ({label})")
            check_arrays(msg.arrays, spec, f"p{j}", label)
            self.stats.bytes_received += sum(a.nbytes for a in msg.arrays)
            received[j] = msg
        return received
