"""CurveZMQ set-up: a ZAP allow-list of the session's keys on our own zmq context."""

from __future__ import annotations

import zmq
from zmq.auth.base import Authenticator
from zmq.auth.thread import ThreadAuthenticator

from .keys import KeyPair

HEARTBEAT_IVL_MS = 1000
HEARTBEAT_TIMEOUT_MS = 5000
LINGER_MS = 2000
MAX_MESSAGE_BYTES = 1 << 33


class _AllowList:
    """ZAP callback: a client may connect only with one of the session's public keys."""

    def __init__(self, keys: list[str]):
        self.keys = {k.encode("ascii") for k in keys}

    def callback(self, domain: str, key: bytes) -> bool:
        return key in self.keys


def start_authenticator(context: zmq.Context, allowed_public_keys: list[str]) -> ThreadAuthenticator:
    """ZAP handler for this context: any CURVE server socket in it accepts only these keys."""
    auth = ThreadAuthenticator(context)
    auth.start()
    auth.configure_curve_callback(domain="*", credentials_provider=_AllowList(allowed_public_keys))
    return auth


#: How long closing waits for the ZAP thread before leaving it (and its context) behind.
AUTH_STOP_TIMEOUT_S = 5.0


def stop_authenticator(auth: ThreadAuthenticator, timeout: float = AUTH_STOP_TIMEOUT_S) -> bool:
    """Stop the ZAP thread, waiting at most ``timeout`` (pyzmq's ``stop`` joins without one).

    Returns False if the thread did not stop: the caller must then not terminate the context
    (which would wait for the thread's socket for ever) and leaves it to the process's exit."""
    if auth.pipe is None:
        return True
    auth.pipe.send(b"TERMINATE")
    thread = auth.thread
    if thread is not None:
        thread.join(timeout)
        if thread.is_alive():
            return False
    auth.pipe.close(linger=0)
    auth.pipe = None  # type: ignore[assignment]
    auth.thread = None  # type: ignore[assignment]
    Authenticator.stop(auth)
    return True


def _common_options(sock: zmq.Socket) -> None:
    sock.setsockopt(zmq.LINGER, LINGER_MS)
    sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
    sock.setsockopt(zmq.HEARTBEAT_TTL, HEARTBEAT_TIMEOUT_MS)
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)


def curve_server(context: zmq.Context, kind: int, keys: KeyPair) -> zmq.Socket:
    sock = context.socket(kind)
    _common_options(sock)
    sock.curve_secretkey = keys.secret.encode("ascii")
    sock.curve_publickey = keys.public.encode("ascii")
    sock.curve_server = True
    return sock


def curve_client(context: zmq.Context, kind: int, keys: KeyPair, server_public_key: str) -> zmq.Socket:
    sock = context.socket(kind)
    _common_options(sock)
    sock.curve_secretkey = keys.secret.encode("ascii")
    sock.curve_publickey = keys.public.encode("ascii")
    sock.curve_serverkey = server_public_key.encode("ascii")
    return sock
