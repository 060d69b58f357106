"""ZeroMQ mesh between the parties and the dealer: session files, keys, CurveZMQ, framing,
timeouts, the dealer service and the preprocessing store. Knows nothing of secret-sharing math
or of IPython."""

import importlib
import logging
from typing import TYPE_CHECKING, Any

from .errors import BridgeError, FrameError, PeerAborted, PeerDisconnected, PeerTimeout, SessionFileError

# a library's loggers: silent unless the application configures logging (smpc_magic.engine.logs)
logging.getLogger("kernel_bridge").addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from .keys import KeyPair, generate_keypair, load_keypair, write_keypair
    from .session import Endpoint, SessionConfig, load_session, new_session, write_session

#: loaded on first use: the error classes (which the engine's errors derive from) load no ZeroMQ
_LAZY = {
    **dict.fromkeys(("KeyPair", "generate_keypair", "load_keypair", "write_keypair"), ".keys"),
    **dict.fromkeys(("Endpoint", "SessionConfig", "load_session", "new_session", "write_session"), ".session"),
}

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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kernel_bridge' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
