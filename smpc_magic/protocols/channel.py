"""The abstract channel the protocols talk through (the in-memory one for unit tests is in
:mod:`smpc_magic.protocols.testing`)."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import SmpcError


@dataclass(frozen=True)
class ArraySpec:
    """What one received array must look like; anything else is refused."""

    dtype: str
    shape: tuple[int, ...]

    @classmethod
    def like(cls, array: npt.NDArray[Any]) -> ArraySpec:
        return cls(_name(array.dtype), tuple(array.shape))


@dataclass
class Message:
    """One party's message to one peer in one round: a small JSON-able dict plus raw arrays."""

    arrays: list[npt.NDArray[Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


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


@functools.lru_cache(maxsize=64)
def _dtype(name: str) -> np.dtype[Any]:
    return np.dtype(name)


@functools.lru_cache(maxsize=64)
def _name(dtype: np.dtype[Any]) -> str:
    return dtype.name  # numpy's property is slow, and this runs for every array of every round


def check_arrays(arrays: Sequence[npt.NDArray[Any]], spec: Sequence[ArraySpec] | None, sender: str, label: str) -> None:
    """Raise if received arrays do not match the expected dtypes and shapes."""
    if spec is None:
        return
    if len(arrays) != len(spec):
        raise ChannelMismatch(f"party {sender!r} sent {len(arrays)} arrays at step '{label}', expected {len(spec)}")
    for got, want in zip(arrays, spec):
        if got.dtype != _dtype(want.dtype) or tuple(got.shape) != tuple(want.shape):
            raise ChannelMismatch(
                f"party {sender!r} sent an array of {got.dtype.name}{tuple(got.shape)} at step '{label}', "
                f"expected {want.dtype}{tuple(want.shape)}. The parties are out of step: re-run the cell at every site."
            )


class ChannelMismatch(SmpcError):
    """A peer's message does not match the step; the parties are out of step."""
