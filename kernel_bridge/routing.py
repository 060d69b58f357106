"""Where received messages wait until the computation asks for them: keyed by sender,
computation id and step, with peers' aborts and withdrawals beside them. No sockets here.

The caller may name a *lobby*: the computation id under which parties meet before they agree on
a real one. Lobby messages of a sender whose connection drops are discarded (a party that died
cannot still be starting a computation), and an abort sent from the lobby only withdraws the
sender's pending lobby message (``withdraw`` token) instead of aborting anything.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

import numpy as np

from .framing import Header

log = logging.getLogger("kernel_bridge")  # events and public names only, never a value

#: At most this many messages wait for a computation; older ones are dropped first.
MAX_BUFFERED = 4096
#: At most this many aborts and withdrawals are remembered.
MAX_ABORTS = 256

#: What an abort may carry: an exception class name and a step label (never free text).
_ERROR_CLASS = re.compile(r"^[A-Z][A-Za-z0-9_]{0,63}$")
_STEP_LABEL = re.compile(r"^[A-Za-z0-9 _.,:()'/-]{1,80}$")
_CELL_DIGEST = re.compile(r"^[0-9a-f]{16,64}$")

Key = tuple[int, str, int]  # (sender, computation, step)
Delivery = tuple[Header, list[np.ndarray]]


@dataclass(frozen=True)
class Abort:
    sender: int
    label: str
    message: str  # the error's class name
    peer: str | None = None  # the party the sender's error was about (a PeerError), if any
    cause: str | None = None  # that party's error class, when the sender stopped because it did


@dataclass(frozen=True)
class LobbyAbort:
    """A peer gave up on a cell before the sites agreed (its error's class, when, which cell)."""

    sender: int
    cell: str
    message: str
    at: float


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
        self._withdrawn: dict[tuple[int, str], None] = {}  # insertion-ordered, bounded
        self._lobby_aborts: dict[int, LobbyAbort] = {}  # sender -> its last give-up before agreeing
        self.dropped = 0

    def deliver(self, sender: int, header: Header, arrays: list[np.ndarray]) -> None:
        key = (sender, header.computation, header.step)
        if header.computation == self.lobby:
            self._lobby_aborts.pop(sender, None)  # a newer attempt of that sender
        self._buffer.pop(key, None)
        self._buffer[key] = (header, arrays)
        while len(self._buffer) > MAX_BUFFERED:
            del self._buffer[next(iter(self._buffer))]
            self.dropped += 1

    def record_abort(self, sender: int, header: Header) -> None:
        """Remember a peer's abort (the newest MAX_ABORTS). Only an error class name and a step
        label are kept, both checked: a peer cannot make this party display its free text."""
        if header.computation != self.lobby and header.computation not in self._aborts:
            error = header.meta.get("error")
            error = error if isinstance(error, str) and _ERROR_CLASS.match(error) else "an error"
            label = header.label if _STEP_LABEL.match(header.label) else "unknown step"
            peer = header.meta.get("peer")
            peer = peer if isinstance(peer, str) and len(peer) <= 64 else None
            cause = header.meta.get("cause")
            cause = cause if isinstance(cause, str) and _ERROR_CLASS.match(cause) else None
            self._aborts[header.computation] = Abort(sender, label, error, peer, cause)
            log.warning(
                "party %d stopped computation %s at step: %s (%s)", sender, header.computation[:16], label, error
            )
            while len(self._aborts) > MAX_ABORTS:
                del self._aborts[next(iter(self._aborts))]
        cell = header.meta.get("cell")
        if header.computation == self.lobby and isinstance(cell, str) and _CELL_DIGEST.match(cell):
            error = header.meta.get("error")
            error = error if isinstance(error, str) and _ERROR_CLASS.match(error) else "an error"
            self._lobby_aborts[sender] = LobbyAbort(sender, cell, error, time.monotonic())
        token = header.meta.get("withdraw")
        if isinstance(token, str) and len(token) <= 200:
            self._withdrawn[(sender, token)] = None
            while len(self._withdrawn) > MAX_ABORTS:
                del self._withdrawn[next(iter(self._withdrawn))]

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

    def lobby_abort(self, sender: int, within: float) -> LobbyAbort | None:
        """``sender``'s give-up before agreeing, if it came less than ``within`` seconds ago."""
        found = self._lobby_aborts.get(sender)
        return found if found is not None and time.monotonic() - found.at <= within else None

    def abort_of(self, computation: str) -> Abort | None:
        return self._aborts.get(computation)

    def take_withdrawals(self) -> set[tuple[int, str]]:
        out, self._withdrawn = set(self._withdrawn), {}
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
