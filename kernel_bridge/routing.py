"""Where received messages wait until the computation asks for them: keyed by sender,
computation id and step, with peers' aborts and withdrawals beside them. No sockets here.

The caller may name a *lobby*: the computation id under which parties meet before they agree on
a real one. Lobby messages of a sender whose connection drops are discarded (a party that died
cannot still be starting a computation), and an abort sent from the lobby only withdraws the
sender's pending lobby message (``withdraw`` token) instead of aborting anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .framing import Header

#: At most this many messages wait for a computation; older ones are dropped first.
MAX_BUFFERED = 4096
#: At most this many aborts and withdrawals are remembered.
MAX_ABORTS = 256

Key = tuple[int, str, int]  # (sender, computation, step)
Delivery = tuple[Header, list[np.ndarray]]


@dataclass(frozen=True)
class Abort:
    sender: int
    label: str
    message: str


@dataclass
class MeshStats:
    """What this party sent and received over the mesh."""

    bytes_sent: int = 0
    bytes_received: int = 0
    messages_sent: int = 0
    messages_received: int = 0
    dropped: int = 0


class Router:
    def __init__(self, lobby: str | None = None):
        self.lobby = lobby
        self._buffer: dict[Key, Delivery] = {}
        self._aborts: dict[str, Abort] = {}
        self._withdrawn: set[tuple[int, str]] = set()
        self.dropped = 0

    def deliver(self, sender: int, header: Header, arrays: list[np.ndarray]) -> None:
        key = (sender, header.computation, header.step)
        self._buffer.pop(key, None)
        self._buffer[key] = (header, arrays)
        while len(self._buffer) > MAX_BUFFERED:
            del self._buffer[next(iter(self._buffer))]
            self.dropped += 1

    def record_abort(self, sender: int, header: Header) -> None:
        if header.computation != self.lobby and len(self._aborts) < MAX_ABORTS:
            message = header.meta.get("message", "")
            self._aborts.setdefault(header.computation, Abort(sender, header.label, str(message)[:2000]))
        token = header.meta.get("withdraw")
        if isinstance(token, str) and len(token) <= 200 and len(self._withdrawn) < MAX_ABORTS:
            self._withdrawn.add((sender, token))

    def sender_dropped(self, sender: int) -> None:
        if self.lobby is not None:
            for key in [k for k in self._buffer if k[0] == sender and k[1] == self.lobby]:
                del self._buffer[key]

    def take(self, sender: int, computation: str, step: int) -> Delivery | None:
        return self._buffer.pop((sender, computation, step), None)

    def peek(self, sender: int, computation: str, step: int) -> Delivery | None:
        return self._buffer.get((sender, computation, step))

    def discard(self, sender: int, computation: str, step: int) -> None:
        self._buffer.pop((sender, computation, step), None)

    def abort_of(self, computation: str) -> Abort | None:
        return self._aborts.get(computation)

    def take_withdrawals(self) -> set[tuple[int, str]]:
        out, self._withdrawn = self._withdrawn, set()
        return out

    def forget(self, computation: str) -> None:
        for key in [k for k in self._buffer if k[1] == computation]:
            del self._buffer[key]
        self._aborts.pop(computation, None)

    def keep_only(self, computation: str | None) -> None:
        """Drop every message and abort of other computations than ``computation``."""
        for key in [k for k in self._buffer if k[1] != computation]:
            del self._buffer[key]
        for name in [k for k in self._aborts if k != computation]:
            del self._aborts[name]
