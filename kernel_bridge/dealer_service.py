"""The dealer's server loop: a CurveZMQ ROUTER that answers authenticated parties.

What the dealer computes is not this module's business: it calls a handler with the requesting
party's index (from the authenticated key), the header and the arrays, and sends back what the
handler returns.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable

import numpy as np
import zmq

from . import framing
from .auth import curve_server, start_authenticator, stop_authenticator
from .errors import BridgeError, FrameError
from .keys import KeyPair
from .session import SessionConfig

log = logging.getLogger("kernel_bridge")  # events and public names only, never a value

Handler = Callable[[int, framing.Header, list[np.ndarray]], tuple[str, dict, list[np.ndarray]]]


class DealerServer:
    """Serve requests until stopped (SIGTERM/SIGINT, ``stop()``, or ``idle_timeout`` seconds idle)."""

    def __init__(self, config: SessionConfig, keys: KeyPair, handler: Handler):
        if config.dealer is None:
            raise BridgeError("the session file has no [dealer]")
        if config.dealer.public_key != keys.public:
            raise BridgeError("the key file does not hold the dealer's key named in the session file")
        self.config = config
        self.handler = handler
        self._stop = threading.Event()
        self._ctx = zmq.Context()
        self._auth = start_authenticator(self._ctx, [p.public_key for p in config.parties])
        self._sock = curve_server(self._ctx, zmq.ROUTER, keys)
        self._sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        try:
            self._sock.bind(config.dealer.address)
        except zmq.ZMQError as exc:
            self.close()
            raise BridgeError(f"the dealer cannot listen on {config.dealer.address}: {exc}") from None
        self._key_to_index = {p.public_key: i for i, p in enumerate(config.parties)}
        self.requests_served = 0
        self.requests_failed, self.last_failure = 0, ""

    def stop(self) -> None:
        self._stop.set()

    def serve(self, idle_timeout: float | None = None) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self._stop.set())
        last = time.monotonic()
        log.info("dealer: serving session %s", self.config.session_id[:16])
        try:
            while not self._stop.is_set():
                if not self._sock.poll(200):
                    if idle_timeout is not None and time.monotonic() - last > idle_timeout:
                        return
                    continue
                last = time.monotonic()
                frames = self._sock.recv_multipart(copy=False)
                try:
                    self._answer(frames)
                except Exception as exc:  # noqa: BLE001 - no request, however malformed, stops the dealer
                    self.requests_failed += 1
                    self.last_failure = type(exc).__name__
                    log.warning("dealer: a request could not be answered (%s)", type(exc).__name__)
        finally:
            log.info("dealer: stopped after %d requests (%d failed)", self.requests_served, self.requests_failed)
            self.close()

    def _answer(self, frames) -> None:
        if len(frames) < 2:
            return
        routing, body = frames[0], frames[1:]
        party = self._key_to_index.get(body[0].get("User-Id"))
        if party is None:
            return
        try:
            header, arrays = framing.decode(body, self.config.session_id)
        except FrameError:
            return
        request_id = header.meta.get("request", "")
        if not isinstance(request_id, str) or len(request_id) > 200:
            return  # not a request any party of ours sends
        try:
            kind, meta, out = self.handler(party, header, arrays)
        except Exception as exc:  # report to the party instead of dying
            kind, meta, out = "error", {"message": f"{type(exc).__name__}: {exc}"}, []
        reply = framing.Header(self.config.session_id, kind, "", 0, header.kind, {**meta, "request": request_id})
        try:
            self._sock.send_multipart([routing.bytes, *framing.encode(reply, out)], copy=False, flags=zmq.NOBLOCK)
        except zmq.ZMQError:
            pass  # the party went away or stopped reading: never block on it; it will ask again
        self.requests_served += 1

    def close(self) -> None:
        if self._ctx.closed:
            return
        self._sock.close(linger=1000)
        if stop_authenticator(self._auth):
            self._ctx.term()
