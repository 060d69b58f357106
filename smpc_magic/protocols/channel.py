"""The abstract channel the protocols talk through, and an in-memory one for unit tests."""

from __future__ import annotations

import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import SmpcError


@dataclass(frozen=True)
class ArraySpec:
    """What one received array must look like; anything else is refused."""

    dtype: str
    shape: tuple[int, ...]

    @classmethod
    def like(cls, array: np.ndarray) -> ArraySpec:
        return cls(array.dtype.name, tuple(array.shape))


@dataclass
class Message:
    """One party's message to one peer in one round: a small JSON-able dict plus raw arrays."""

    arrays: list[np.ndarray] = field(default_factory=list)
    meta: dict = field(default_factory=dict)


@dataclass
class ChannelStats:
    """Counters of what this party sent and received, for benchmarks and audits."""

    rounds: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    messages_sent: int = 0
    wait_seconds: float = 0.0  # time spent waiting for peers' messages (the rest is local work)

    def snapshot(self) -> tuple[int, int, int]:
        return self.rounds, self.bytes_sent, self.bytes_received


class Channel(ABC):
    """Point-to-point messaging between the ``n_parties`` parties of one computation.

    ``exchange`` is one communication round: send every outgoing message, then wait for every
    expected one. Implementations must check each received array against its ``ArraySpec`` and
    fail with an error naming the party and step rather than hang (every wait has a timeout).
    """

    party: int
    n_parties: int
    party_names: list[str]
    stats: ChannelStats

    @abstractmethod
    def exchange(
        self,
        step: int,
        label: str,
        outgoing: Mapping[int, Message],
        expect: Mapping[int, Sequence[ArraySpec] | None],
    ) -> dict[int, Message]:
        """Send ``outgoing[j]`` to each j, receive one message from each j in ``expect``.

        ``expect[j]`` lists the arrays j must send; ``None`` means "any arrays, checked by caller"
        (only for metadata rounds, whose arrays are small and validated explicitly).
        """


def check_arrays(arrays: Sequence[np.ndarray], spec: Sequence[ArraySpec] | None, sender: str, label: str) -> None:
    """Raise if received arrays do not match the expected dtypes and shapes."""
    if spec is None:
        return
    if len(arrays) != len(spec):
        raise ChannelMismatch(f"party {sender!r} sent {len(arrays)} arrays at step '{label}', expected {len(spec)}")
    for got, want in zip(arrays, spec):
        if got.dtype.name != want.dtype or tuple(got.shape) != tuple(want.shape):
            raise ChannelMismatch(
                f"party {sender!r} sent an array of {got.dtype.name}{tuple(got.shape)} at step '{label}', "
                f"expected {want.dtype}{tuple(want.shape)}. The parties are out of step: re-run the cell at every site."
            )


class ChannelMismatch(SmpcError):
    """A peer's message does not match the step; the parties are out of step."""


class InMemoryNetwork:
    """Queues between parties that run as threads of one process. For protocol unit tests only."""

    def __init__(self, n_parties: int, timeout: float = 30.0):
        self.n_parties = n_parties
        self.timeout = timeout
        self.queues = {(i, j): queue.Queue() for i in range(n_parties) for j in range(n_parties) if i != j}
        self.log: list[tuple[int, int, str, list[np.ndarray]]] = []
        self._lock = threading.Lock()

    def channel(self, party: int) -> InMemoryChannel:
        return InMemoryChannel(self, party)


class InMemoryChannel(Channel):
    def __init__(self, network: InMemoryNetwork, party: int):
        self.network = network
        self.party = party
        self.n_parties = network.n_parties
        self.party_names = [f"p{i}" for i in range(network.n_parties)]
        self.stats = ChannelStats()

    def exchange(self, step, label, outgoing, expect):
        self.stats.rounds += 1
        for j, msg in outgoing.items():
            arrays = [np.array(a, copy=True) for a in msg.arrays]
            with self.network._lock:
                self.network.log.append((self.party, j, label, arrays))
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
