"""Liveness while the owner is idle (a kernel between cells): pings to every peer and the
dealer, round-trip times from their answers. The thread is a thin driver over ``tick``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

from .framing import Header

SERVICE_INTERVAL_S = 1.0
PING_PREFIX = "ping:"


#: The most a site's announcement (what its owner publishes with each ping) may hold, as JSON.
MAX_ANNOUNCEMENT = 4096


def ping(session: str, to_dealer: bool, announcement: dict | None = None) -> Header:
    now = time.monotonic()
    if to_dealer:  # the dealer echoes a request id
        return Header(session, "ping", "", 0, "ping", {"request": f"{PING_PREFIX}{now!r}"})
    return Header(session, "ping", "", 0, "ping", {"t": now, **({"about": announcement} if announcement else {})})


def announcement_of(ping_header: Header) -> dict | None:
    """What a peer published with its ping (a small JSON object), or None."""
    about = ping_header.meta.get("about")
    if not isinstance(about, dict):
        return None
    try:
        return about if len(json.dumps(about)) <= MAX_ANNOUNCEMENT else None
    except (TypeError, ValueError):
        return None


def pong(session: str, ping_header: Header) -> Header:
    sent = ping_header.meta.get("t")
    return Header(session, "pong", "", 0, "pong", {"t": sent if isinstance(sent, float) else None})


def round_trip(pong_header: Header) -> float | None:
    """Seconds since the ping this pong answers (None if it is not one of ours)."""
    sent = pong_header.meta.get("t")
    now = time.monotonic()
    return now - sent if isinstance(sent, float) and 0 <= now - sent < 3600 else None


def dealer_round_trip(request_id: str) -> float | None:
    try:
        sent = float(request_id[len(PING_PREFIX) :])
    except ValueError:
        return None
    now = time.monotonic()
    return now - sent if 0 <= now - sent < 3600 else None


class LivenessThread:
    """Calls ``tick`` every ``interval`` seconds until stopped; an exception from ``tick`` is
    counted, never allowed to end the thread."""

    def __init__(self, tick: Callable[[], None], interval: float = SERVICE_INTERVAL_S):
        self._tick, self.interval = tick, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="smpc-mesh", daemon=True)
        self.errors, self.last_error = 0, ""

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._tick()
            except Exception as exc:  # noqa: BLE001 - whatever a peer sent, the thread lives on
                self.errors += 1
                self.last_error = type(exc).__name__

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
