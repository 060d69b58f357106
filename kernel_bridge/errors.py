"""Transport-level errors. Each names the party and the step so an analyst knows where to look."""

from __future__ import annotations


class BridgeError(Exception):
    """Base class of kernel_bridge errors."""


class SessionFileError(BridgeError, ValueError):
    """The session file or a key file is missing, malformed or inconsistent."""


class FrameError(BridgeError):
    """A peer sent a frame that does not match what this step expects (never used, never unpickled)."""


class PeerError(BridgeError):
    """A problem with one named peer at one named step."""

    def __init__(self, message: str, party: str | None = None, step: str | None = None):
        super().__init__(message)
        self.party = party
        self.step = step


class PeerTimeout(PeerError):
    """A peer sent nothing within the session timeout."""


class PeerDisconnected(PeerError):
    """The connection to a peer was lost (its process died or its network went away)."""


class PeerAborted(PeerError):
    """A peer stopped the computation because of an error on its side."""
