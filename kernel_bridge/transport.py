"""Moving messages between this party, its peers and the dealer: one CurveZMQ PULL socket that
receives from every peer, outgoing links to each peer and the dealer (:mod:`.links`), buffered
messages (:mod:`.routing`) and dealer requests (:mod:`.dealer_client`). :class:`.mesh.Mesh`
adds joining, liveness and status on top.

A sender is identified by the public key CurveZMQ authenticated (the frame's ``User-Id``), never
by anything it wrote itself. Every wait polls with a deadline; a socket monitor on each outgoing
connection notices a peer whose process died, so waits on it fail at once with an error that
names the party and the step. Sockets are used by the caller's thread and the liveness thread,
never at the same time: every socket operation holds one lock.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np
import zmq

from . import errors, framing, liveness
from .auth import curve_server, start_authenticator, stop_authenticator
from .dealer_client import DealerClient
from .errors import BridgeError, FrameError, PeerTimeout
from .keys import KeyPair
from .links import DEALER, Links, PeerLink, read_queued
from .routing import Delivery, MeshStats, Router
from .session import SessionConfig

POLL_SLICE_S = 0.05
T = TypeVar("T")
#: Waits for the socket lock give up after this long (a wedged thread must not hang the kernel).
LOCK_TIMEOUT_S = 10.0


class Transport:
    """This party's sockets to its peers and the dealer, for one session: sending, receiving,
    waiting with deadlines."""

    def __init__(
        self,
        config: SessionConfig,
        me: str,
        keys: KeyPair,
        *,
        record_path: str | None = None,
        lobby: str | None = None,
    ):
        self.config = config
        self.me = config.index(me)
        self.name = me
        if config.parties[self.me].public_key != keys.public:
            raise BridgeError(
                f"the key file's public key does not match party {me!r} in the session file; "
                "use the key made for this party (keys/<name>.key beside the session file)"
            )
        self.timeout = config.timeout
        #: the latest each peer published with its pings (its owner's business; informational)
        self.announcements: dict[str, dict[str, Any]] = {}
        self.stats = MeshStats()
        self.busy = False  # True while the owner runs a computation: the liveness thread stays away
        self._router = Router(lobby)
        self._dealer = DealerClient(config.session_id)
        self._key_to_index = {p.public_key: i for i, p in enumerate(config.parties)}
        self._record = open(record_path, "ab") if record_path else None  # noqa: SIM115 - closed in close()
        self._closed = False
        self._lock = threading.RLock()
        self._ctx = zmq.Context(io_threads=2)
        self._poller = zmq.Poller()
        self._auth = None
        self._inbox = None
        self._links: Links | None = None
        try:
            self._auth = start_authenticator(self._ctx, [p.public_key for p in config.parties])
            self._inbox = curve_server(self._ctx, zmq.PULL, keys)
            address = config.parties[self.me].address
            try:
                self._inbox.bind(address)
            except zmq.ZMQError as exc:
                raise BridgeError(
                    f"party {me!r} cannot listen on {address}: {exc}. Another process (an older kernel "
                    "of this party?) may still hold the port; stop it or pick another port in the session file."
                ) from None
            self._poller.register(self._inbox, zmq.POLLIN)
            self._links = Links(self._ctx, config, self.me, keys, self._poller, self._router.sender_dropped)
        except BaseException:
            self.close()
            raise

    @property
    def links(self) -> Links:
        if self._links is None:
            raise BridgeError("this connection to the session was closed")
        return self._links

    # ----- waiting ------------------------------------------------------------------------------
    def _wait(self, timeout: float, ready: Callable[[], T | None], give_up: Callable[[float, bool], None]) -> T:
        """Poll until ``ready()`` (called under the lock) returns something; ``give_up(now,
        expired)`` raises when waiting is pointless or the timeout has passed."""
        deadline = time.monotonic() + timeout
        first = True
        while True:
            with self._locked():
                if first:  # bring connection state up to date before judging it
                    self._poll_locked(0)
                    first = False
                got = ready()
            if got is not None:
                return got
            now = time.monotonic()
            give_up(now, now >= deadline)
            if now >= deadline:
                raise PeerTimeout(f"nothing arrived within {timeout:.0f} s")
            self._poll_once(min(POLL_SLICE_S, max(0.0, deadline - now)))

    # ----- sending ------------------------------------------------------------------------------
    def send(
        self,
        peer: int,
        kind: str,
        computation: str,
        step: int,
        label: str,
        arrays: Sequence[np.ndarray],
        meta: dict[str, Any] | None = None,
    ) -> None:
        header = framing.Header(self.config.session_id, kind, computation, step, label, meta or {})
        frames = framing.encode(header, list(arrays))
        self._send_within(peer, frames, label)

    def _send_within(self, peer: int, frames: list, label: str) -> None:
        """Send without ever blocking on a peer whose queue is full (it died or stalled)."""
        deadline = time.monotonic() + self.timeout
        while True:
            with self._locked():
                link = self.links[peer]
                try:
                    link.socket.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
                    break
                except zmq.Again:
                    pass
            if time.monotonic() >= deadline:
                raise errors.full_queue(link.name, label, self.timeout)
            self._poll_once(POLL_SLICE_S)
        self.stats.messages_sent += 1
        self.stats.bytes_sent += sum(len(f) if isinstance(f, bytes) else f.nbytes for f in frames)

    def _send_now(self, link: PeerLink, header: framing.Header, arrays: list[np.ndarray]) -> None:
        try:
            link.socket.send_multipart(framing.encode(header, arrays), flags=zmq.NOBLOCK)
        except zmq.ZMQError:
            pass

    def broadcast_abort(
        self,
        computation: str,
        label: str,
        error: str,
        withdraw: str | None = None,
        peer: str | None = None,
        cell: str | None = None,
        cause: str | None = None,
    ) -> None:
        """Tell every peer this party gave up on ``computation`` at step ``label`` with an error of
        class ``error`` (best effort, never blocks). Only the class name travels: an error's text
        may describe this site's data, and stays here.

        ``withdraw`` is a token naming this party's pending message in the lobby, which peers drop.
        ``cell`` (the cell's digest, from the lobby) tells peers waiting for this party to run that
        cell that it gave up on it. ``cause``: when this party stopped because ``peer`` did, the
        class of ``peer``'s error, passed on so that every site reads the first site's reason.
        """
        meta: dict[str, str] = {"error": error[:64], **({"withdraw": withdraw} if withdraw else {})}
        if cell is not None:
            meta["cell"] = cell
        if peer is not None:
            meta["peer"] = peer  # which party a connection error was about: no fact about data
        if cause is not None:
            meta["cause"] = cause[:64]
        header = framing.Header(self.config.session_id, "abort", computation, 0, label, meta)
        with self._locked():
            for j, link in self.links.links.items():
                if j != DEALER:
                    self._send_now(link, header, [])

    # ----- receiving ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """The socket lock, with a timeout: a wedged holder gives a clear error, not a hang."""
        if not self._lock.acquire(timeout=LOCK_TIMEOUT_S):
            raise BridgeError("the connection to the session is busy in another thread; try again")
        try:
            yield
        finally:
            self._lock.release()

    def _poll_once(self, timeout_s: float) -> None:
        with self._locked():
            if self._closed:
                raise BridgeError("this connection to the session was closed")
            self._poll_locked(timeout_s)

    def _poll_locked(self, timeout_s: float) -> None:
        events = dict(self._poller.poll(int(timeout_s * 1000)))
        if self._inbox is not None and self._inbox in events:
            read_queued(self._inbox, self._accept)
        links = self.links
        if DEALER in links and links[DEALER].socket in events:
            read_queued(links[DEALER].socket, self._accept_dealer)
        for sock in events:
            index = links.owner_of_monitor(sock)
            if index is not None:
                links.drain(index)

    def _accept(self, frames: list) -> None:
        sender = self._key_to_index.get(frames[0].get("User-Id"))
        self.stats.messages_received += 1
        self.stats.bytes_received += sum(len(f.buffer) for f in frames)
        if self._record is not None:
            framing.record_message(self._record, [f.buffer for f in frames])
        if sender is None or sender == self.me:
            self.stats.dropped += 1
            return
        try:
            header, arrays = framing.decode(frames, self.config.session_id)
        except FrameError:
            self.stats.dropped += 1
            return
        link = self.links[sender]
        link.last_heard = time.monotonic()
        if header.kind == "abort":
            self._router.record_abort(sender, header)
        elif header.kind == "ping":
            self._send_now(link, liveness.pong(self.config.session_id, header), [])
            about = liveness.announcement_of(header)
            if about is not None:
                self.announcements[link.name] = about
        elif header.kind == "pong":
            link.rtt_s = liveness.round_trip(header) or link.rtt_s
        else:
            self._router.deliver(sender, header, arrays)

    def _accept_dealer(self, frames: list) -> None:
        try:
            header, arrays = framing.decode(frames, self.config.session_id)
        except FrameError:
            self.stats.dropped += 1
            return
        self.stats.bytes_received += sum(len(f.buffer) for f in frames)
        ping_id = self._dealer.accept(header, arrays)
        if ping_id is not None:
            self.links[DEALER].rtt_s = liveness.dealer_round_trip(ping_id) or self.links[DEALER].rtt_s

    def recv(
        self,
        peer: int,
        computation: str,
        step: int,
        label: str,
        timeout: float | None = None,
        aborted_by: str | None = None,
    ) -> Delivery:
        """The message ``peer`` sent for (computation, step); errors name the peer and the step.
        ``aborted_by``: another computation whose abort *by ``peer``* also ends the wait (a round
        that travels under its own id on behalf of that computation: a peer that sent its message
        and then stopped does not end the wait for the others' messages)."""
        timeout = self.timeout if timeout is None else timeout

        def give_up(now: float, expired: bool) -> None:
            with self._locked():
                abort = self._router.abort_of(computation)
                if abort is None and aborted_by is not None:
                    theirs = self._router.abort_of(aborted_by)
                    abort = theirs if theirs is not None and theirs.sender == peer else None
            if abort is not None:
                sender = self.config.parties[abort.sender].name
                about = (
                    abort.peer if abort.peer in self.config.names and abort.peer not in (sender, self.name) else None
                )
                raise errors.peer_aborted(sender, abort.label, abort.message, about, abort.cause if about else None)
            link = self.links[peer]  # may have been replaced by a fresh socket
            if link.gone(now):
                raise errors.lost_peer(link.name, label, step)
            if expired:
                raise errors.silent_peer(link.name, label, step, timeout)

        return self._wait(timeout, lambda: self._router.take(peer, computation, step), give_up)

    # ----- buffered messages ----------------------------------------------------------------------
    @contextlib.contextmanager
    def buffered(self) -> Iterator[Router]:
        """The received messages, aborts and withdrawals, held still (under the socket lock)."""
        with self._locked():
            yield self._router

    def forget(self, computation: str) -> None:
        """Drop buffered messages of a finished or abandoned computation."""
        with self.buffered() as router:
            router.forget(computation)

    def forget_all_but(self, computation: str) -> None:
        """Drop everything buffered for other computations (stale messages of aborted runs)."""
        with self._locked():
            self._poll_locked(0)
            self._router.keep_only(computation)

    # ----- the dealer ---------------------------------------------------------------------------
    def dealer_request(
        self, kind: str, meta: dict[str, Any], arrays: Sequence[np.ndarray] = (), timeout: float | None = None
    ) -> Delivery:
        """Ask the dealer for something and wait for its answer (with the session timeout)."""
        if DEALER not in self.links:
            raise BridgeError("this session has no dealer")
        timeout = self.timeout if timeout is None else timeout
        with self._locked():
            request_id, frames = self._dealer.request(kind, meta, list(arrays))

        def give_up(now: float, expired: bool) -> None:
            link = self.links[DEALER]  # may have been replaced by a fresh socket
            if link.gone(now):
                raise errors.lost_dealer(link.name, str(meta.get("kind", kind)))
            if expired:
                raise errors.silent_dealer(link.name, str(meta.get("kind", kind)), timeout)

        try:
            self._send_within(DEALER, frames, kind)
            header, got = self._wait(timeout, lambda: self._dealer.pop(request_id), give_up)
        finally:
            with self._locked():
                self._dealer.give_up(request_id)
        if header.kind == "error":
            raise BridgeError(f"the dealer refused the request: {header.meta.get('message', '')}")
        return header, got

    # ----- shutdown -----------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        acquired = self._lock.acquire(timeout=LOCK_TIMEOUT_S)
        try:
            self._closed = True
            if self._links is not None:
                self._links.close()
            if self._inbox is not None:
                self._inbox.close(linger=0)
            if self._auth is None or stop_authenticator(self._auth):
                self._ctx.term()
            if self._record is not None:
                self._record.close()
        finally:
            if acquired:
                self._lock.release()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
