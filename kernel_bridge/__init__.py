"""ZeroMQ mesh between the parties and the dealer: session files, keys, CurveZMQ, framing,
timeouts, the dealer service and the preprocessing store. Knows nothing of secret-sharing math
or of IPython."""

from .errors import BridgeError, FrameError, PeerAborted, PeerDisconnected, PeerTimeout, SessionFileError
from .keys import KeyPair, generate_keypair, load_keypair, write_keypair
from .session import Endpoint, SessionConfig, load_session, new_session, write_session

__all__ = [
    "BridgeError",
    "Endpoint",
    "FrameError",
    "KeyPair",
    "PeerAborted",
    "PeerDisconnected",
    "PeerTimeout",
    "SessionConfig",
    "SessionFileError",
    "generate_keypair",
    "load_keypair",
    "load_session",
    "new_session",
    "write_keypair",
    "write_session",
]
