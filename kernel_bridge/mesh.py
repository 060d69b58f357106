"""The party mesh: this party's connections to its peers and the dealer (:mod:`.transport`), plus
what a session needs on top of moving messages: waiting until everyone is connected, waiting
in the lobby for the other sites to run the same cell, and the idle liveness service (pings,
round trips, what each site announces) that keeps a kernel's connections current between cells.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import zmq

from . import errors, liveness
from .errors import BridgeError
from .keys import KeyPair
from .links import DEALER
from .session import SessionConfig
from .transport import Transport

log = logging.getLogger("kernel_bridge")  # events and public names only, never a value

#: How long a site that comes to a cell waits before a peer's earlier give-up on it counts.
LATE_GRACE_S = 1.0
#: The idle service waits on the sockets in slices this long (the longest a cell waits for the lock).
SERVICE_SLICE_S = 0.05


class Mesh(Transport):
    """This party's connections to its peers and the dealer, for one session."""

    def __init__(
        self,
        config: SessionConfig,
        me: str,
        keys: KeyPair,
        *,
        record_path: str | None = None,
        lobby: str | None = None,
    ):
        self.last_attempt_end = 0.0
        #: what this party publishes with its pings (its owner's business; nothing binding)
        self.announcement: dict[str, Any] = {}
        self._service: liveness.LivenessThread | None = None
        self._ping_interval, self._last_ping = liveness.SERVICE_INTERVAL_S, 0.0
        super().__init__(config, me, keys, record_path=record_path, lobby=lobby)

    # ----- status and liveness ------------------------------------------------------------------
    def peer_status(self) -> dict[str, dict[str, Any]]:
        """Per peer (and the dealer): authenticated connection up, last round-trip time (s)."""
        with self._locked():
            self.links.drain_all()
            return {
                link.name: {"connected": link.connected, "rtt_s": link.rtt_s, "dealer": j == DEALER}
                for j, link in self.links.links.items()
            }

    def start_service(self, interval: float = liveness.SERVICE_INTERVAL_S) -> None:
        """Keep answering and sending pings while the owner is idle (a kernel between cells):
        the thread waits on the sockets in short slices, so a peer's ping is answered at once
        (round trips are the network's, not a polling interval's), and pings every ``interval``."""
        if self._service is None:
            self._ping_interval = interval
            self._service = liveness.LivenessThread(self._service_tick, 0.001)
            self._service.start()

    def _service_tick(self) -> None:
        if self.busy or not self._lock.acquire(timeout=SERVICE_SLICE_S):
            time.sleep(SERVICE_SLICE_S)  # a computation polls the sockets itself; never hold it up
            return
        try:
            if self._closed:
                return
            now = time.monotonic()
            if now - self._last_ping >= self._ping_interval:
                self._last_ping = now
                self._poll_locked(0)
                self.links.refresh_stale()
                self.ping()
            self._poll_locked(SERVICE_SLICE_S)  # answers pings and takes pongs the moment they come
        except (zmq.ZMQError, BridgeError):
            pass
        finally:
            self._lock.release()

    def ping(self) -> None:
        """Send a ping to every connected peer and the dealer; replies update ``rtt_s``."""
        with self._locked():
            for j, link in self.links.links.items():
                if link.connected:
                    ping = liveness.ping(self.config.session_id, j == DEALER, self.announcement)
                    self._send_now(link, ping, [])

    def wait_for_peers(
        self,
        timeout: float | None = None,
        include_dealer: bool = True,
        on_wait: Callable[[list[str], float], None] | None = None,
    ) -> None:
        """Block until every peer (and the dealer) completed the CurveZMQ handshake;
        ``on_wait(absent, seconds)`` is called while some are missing."""
        timeout = self.timeout if timeout is None else timeout
        wanted = [j for j in self.links.links if include_dealer or j != DEALER]
        started = time.monotonic()

        def ready() -> bool | None:
            self.links.drain_all()
            return all(self.links[j].connected for j in wanted) or None

        log.debug("%s: waiting for %s", self.name, ", ".join(self.links[j].name for j in wanted))

        def give_up(now: float, expired: bool) -> None:
            absent = [self.links[j] for j in wanted if not self.links[j].connected]
            if expired and absent:
                names = [link.name for link in absent]
                refused = any(link.auth_failed for link in absent)
                broken = any(link.handshake_failed for link in absent)
                dealer = DEALER in wanted and not self.links[DEALER].connected
                raise errors.unreachable(self.name, names, timeout, refused, broken, dealer)
            if absent and on_wait is not None:
                on_wait([link.name for link in absent], now - started)

        self._wait(timeout, ready, give_up)
        log.info("%s: connected to %s over CurveZMQ", self.name, ", ".join(self.links[j].name for j in wanted))

    def await_lobby(
        self,
        cell: str,
        timeout: float,
        on_wait: Callable[[list[str], list[str], float], None] | None = None,
    ) -> None:
        """Wait until every peer's message for this cell is in the lobby (peers need not press Run
        at the same moment). Stops at once when a peer gave up on this cell (``cell``: its
        digest), when a connection is lost, or after ``timeout``; ``on_wait(joined, awaited,
        seconds)`` is called while waiting."""
        lobby, started = self._router.lobby, time.monotonic()
        peers = [j for j in range(self.config.n_parties) if j != self.me]
        news_since = self.last_attempt_end  # a give-up this site already met is not news

        def arrived() -> set[int]:
            return {
                j
                for j in peers
                if self._router.peek(j, lobby or "", 0) is not None and self._router.lobby_abort(j, timeout) is None
            }

        def ready() -> bool | None:
            return True if len(arrived()) == len(peers) else None

        def give_up(now: float, expired: bool) -> None:
            with self._locked():
                joined = arrived()
                gave_up = [self._router.lobby_abort(j, timeout) for j in peers if j not in joined]
            for abort in gave_up:
                # a give-up from before this wait may be superseded by that site's new attempt,
                # already on its way: a moment's grace before it counts
                fresh = abort is not None and (abort.at > started or now - started > LATE_GRACE_S)
                if abort is not None and fresh and abort.cell == cell and abort.at > news_since:
                    raise errors.left_before_agreeing(self.config.parties[abort.sender].name, abort.message)
            awaited = [j for j in peers if j not in joined]
            for j in awaited:
                if self.links[j].gone(now):
                    raise errors.lost_peer(self.links[j].name, "agree on the cell", 0)
            if expired:
                raise errors.join_timeout([self.config.names[j] for j in awaited], timeout)
            if on_wait is not None:
                on_wait(
                    [self.config.names[j] for j in sorted(joined)],
                    [self.config.names[j] for j in awaited],
                    now - started,
                )

        self._wait(timeout, ready, give_up)

    def attempt_ended(self) -> None:
        """This party's attempt at a cell is over (done or failed): peers' give-ups that came
        before it were part of it, and do not stop the next attempt."""
        self.last_attempt_end = time.monotonic()

    def prepare_lobby(self) -> None:
        """Before parties meet in the lobby again: read what arrived, give peers that went away
        fresh sockets, and drop everything buffered for earlier computations."""
        with self._locked():
            self._poll_locked(0)
            self.links.refresh_stale(at_once=True)
            self._router.keep_only(self._router.lobby)

    # ----- shutdown -----------------------------------------------------------------------------
    def close(self) -> None:
        if self._service is not None and not self._closed:
            self._service.stop()
        super().close()

    def __enter__(self) -> Mesh:
        return self
