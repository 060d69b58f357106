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
    """A peer stopped the computation because of an error on its side.

    ``cause``: the class of the error that started the stop (at that peer, or at the site it
    heard from), so a site that stops because another did passes on the first site's reason."""

    cause: str | None = None


class JoinTimeout(PeerTimeout):
    """Some sites did not run the cell within the time a site waits for the others to join."""


# ----- the messages of waits on peers, written once ------------------------------------------------
def silent_peer(name: str, label: str, step: int, timeout: float) -> PeerTimeout:
    return PeerTimeout(
        f"party {name!r} sent nothing for {timeout:.0f} s at step '{label}' (step {step}). "
        "Check that its kernel is running the same cell; raise the session timeout for long computations.",
        party=name,
        step=label,
    )


def lost_peer(name: str, label: str, step: int) -> PeerDisconnected:
    return PeerDisconnected(
        f"lost the connection to party {name!r} at step '{label}' (step {step}): its process "
        "stopped or its network went away. Restart it and run the cell again at every site.",
        party=name,
        step=label,
    )


def lost_dealer(name: str, what: str) -> PeerDisconnected:
    return PeerDisconnected(
        f"lost the connection to the dealer {name!r} while asking for {what}. Restart it with `smpc dealer SESSION`.",
        party=name,
        step=what,
    )


def silent_dealer(name: str, what: str, timeout: float) -> PeerTimeout:
    return PeerTimeout(
        f"the dealer {name!r} did not answer within {timeout:.0f} s ({what}). "
        "Check that `smpc dealer SESSION` is running.",
        party=name,
        step=what,
    )


def unreachable(
    me: str, names: list[str], timeout: float, refused: bool, broken: bool = False, dealer: bool = False
) -> PeerTimeout:
    if refused:
        hint = "Their keys were refused: check that every site uses the same session file."
    elif broken:
        hint = (
            "The secure handshake failed: the program listening at their address is not this "
            "session's party (check the session file's addresses and keys)."
        )
    else:
        hint = "Check that they have started and joined this session."
        if dealer:
            hint += " The dealer is started with `smpc dealer SESSION` (on the machine the session file names)."
    return PeerTimeout(
        f"party {me!r} could not reach {', '.join(repr(n) for n in names)} within {timeout:.0f} s. {hint}",
        party=names[0],
        step="connect",
    )


def full_queue(name: str, label: str, timeout: float) -> PeerTimeout:
    return PeerTimeout(
        f"cannot send to party {name!r} at step '{label}': its queue has been full for "
        f"{timeout:.0f} s (it stopped reading). Check that its kernel is running.",
        party=name,
        step=label,
    )


def _why(error: str) -> str:
    if error == "KeyboardInterrupt":
        return "its analyst interrupted the cell"
    if error == "JoinTimeout":
        return "it stopped waiting for the others to run the cell"
    if error == "CellLimitError":
        return "its evaluation of the cell used up the CPU time the session allows (cell_cpu_seconds)"
    return f"{error} at that site; its notebook shows the details"


def left_before_agreeing(name: str, error: str) -> PeerAborted:
    """A peer gave up on this cell before the sites agreed on it."""
    return PeerAborted(
        f"party {name!r} stopped before the sites agreed on this cell ({_why(error)}); nothing was shared. "
        "Run the cell again at every site when it is ready.",
        party=name,
        step="agree on the cell",
    )


def join_timeout(names: list[str], timeout: float) -> JoinTimeout:
    who = ", ".join(repr(n) for n in names)
    return JoinTimeout(
        f"party {who} did not run this cell within {timeout:.0f} s, so the sites that did stopped waiting; "
        "nothing was shared. Run it at every site; wait longer with `%%smpc --join-timeout SECONDS` (or "
        "`join_timeout` in the session file).",
        party=names[0],
        step="agree on the cell",
    )


def peer_aborted(name: str, step: str, error: str, about: str | None, cause: str | None = None) -> PeerAborted:
    """A peer stopped: only its error's class, its step, the party it concerned and (when it
    stopped because that party did) that party's error class are known."""
    if error == "PeerAborted" and about and cause and cause != "PeerAborted":
        why = f"because party {about!r} stopped: {_why(cause)}"
    elif about:
        why = f"{error}, about party {about!r} at that site; its notebook shows the details"
    else:
        why = _why(error)
    stopped = PeerAborted(
        f"party {name!r} stopped the computation at step '{step}' ({why}). Nothing more was shared.",
        party=name,
        step=step,
    )
    stopped.cause = cause if error == "PeerAborted" else error
    return stopped
