"""Outgoing connections: one CurveZMQ PUSH socket per peer and a DEALER socket to the dealer,
each with a socket monitor that tells when the peer's handshake succeeded or its connection
dropped, and fresh sockets for peers that went away (see :meth:`Links.refresh_stale`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import zmq
from zmq.utils.monitor import recv_monitor_message

from .auth import curve_client
from .keys import KeyPair
from .session import SessionConfig

log = logging.getLogger("kernel_bridge")  # events and public names only, never a value

#: A fresh link that has not connected after this long means the peer is not there.
UNREACHABLE_AFTER_S = 5.0
#: A peer link down for longer than this gets a fresh socket.
RELINK_AFTER_S = 2.0
#: After a peer's connection drops, how long to keep reading what it sent before giving up on it.
DISCONNECT_GRACE_S = 1.0
DEALER = -1  # peer index used for the dealer

_MONITORED = (
    zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
)


@dataclass
class PeerLink:
    name: str
    socket: zmq.Socket
    monitor: zmq.Socket
    address: str
    server_key: str
    kind: int
    connected: bool = False
    ever_connected: bool = False
    disconnected_at: float | None = None
    auth_failed: bool = False  # their side refused our key
    handshake_failed: bool = False  # the CurveZMQ handshake broke (not their key, or not our session)
    rtt_s: float | None = None
    last_heard: float | None = None
    created_at: float = field(default_factory=time.monotonic)

    def gone(self, now: float) -> bool:
        """The peer dropped (and stayed away past a grace period), or never came on this socket."""
        if self.connected:
            return False
        if self.disconnected_at is not None:
            return now - self.disconnected_at > DISCONNECT_GRACE_S
        return now - self.created_at > UNREACHABLE_AFTER_S


#: At most this many messages are read from one socket per poll.
MAX_READ_PER_POLL = 1024


def read_queued(sock: zmq.Socket, handle: Callable[[list], None]) -> None:
    """Read what is queued, at most MAX_READ_PER_POLL messages: a peer that floods this party
    cannot keep it from reaching its deadlines."""
    for _ in range(MAX_READ_PER_POLL):
        try:
            frames = sock.recv_multipart(zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return
        handle(frames)


class Links:
    """This party's outgoing links, registered on ``poller`` (monitors, and the dealer's socket)."""

    def __init__(
        self,
        context: zmq.Context,
        config: SessionConfig,
        me: int,
        keys: KeyPair,
        poller: zmq.Poller,
        on_disconnect: Callable[[int], None],
    ):
        self._ctx, self._keys, self._poller, self._on_disconnect = context, keys, poller, on_disconnect
        self.links: dict[int, PeerLink] = {}
        for j, peer in enumerate(config.parties):
            if j != me:
                self._add(j, zmq.PUSH, peer.name, peer.address, peer.public_key)
        if config.dealer is not None:
            self._add(DEALER, zmq.DEALER, config.dealer.name, config.dealer.address, config.dealer.public_key)

    def _add(self, index: int, kind: int, name: str, address: str, server_key: str) -> PeerLink:
        sock = curve_client(self._ctx, kind, self._keys, server_key)
        monitor = sock.get_monitor_socket(_MONITORED)
        sock.connect(address)
        link = PeerLink(name, sock, monitor, address, server_key, kind)
        self.links[index] = link
        self._poller.register(monitor, zmq.POLLIN)
        if index == DEALER:
            self._poller.register(sock, zmq.POLLIN)
        return link

    def __getitem__(self, index: int) -> PeerLink:
        return self.links[index]

    def __contains__(self, index: int) -> bool:
        return index in self.links

    def drain(self, index: int) -> None:
        """Apply the monitor events of one link (connected, dropped, refused)."""
        link = self.links[index]
        while link.monitor.poll(0):
            try:
                event = recv_monitor_message(link.monitor, zmq.NOBLOCK)
            except zmq.Again:
                break
            kind = event["event"]
            if kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                link.connected, link.ever_connected, link.disconnected_at = True, True, None
            elif kind == zmq.EVENT_DISCONNECTED:
                if link.connected:
                    link.disconnected_at = time.monotonic()
                link.connected = False
                self._on_disconnect(index)
            elif kind == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                link.auth_failed = True
                log.warning("%s: the CurveZMQ handshake was refused (a key that is not the session's)", link.name)
            else:
                link.handshake_failed = True
                log.warning("%s: the CurveZMQ handshake failed", link.name)

    def drain_all(self) -> None:
        for index in list(self.links):
            self.drain(index)

    def owner_of_monitor(self, sock: zmq.Socket) -> int | None:
        return next((j for j, link in self.links.items() if link.monitor is sock), None)

    def refresh_stale(self, at_once: bool = False) -> None:
        """Replace outgoing sockets whose peer went away more than a moment ago.

        A fresh socket reconnects at once when the peer comes back (a restarted kernel); an old
        CURVE client socket can keep failing to reconnect after a long outage (pyzmq #847), and
        its queue holds only messages of computations that failed with the peer. The caller never
        does this while a computation runs, so no message of a live computation is dropped.
        """
        now = time.monotonic()
        for j, link in list(self.links.items()):
            if link.connected or link.disconnected_at is None:
                continue
            if not at_once and now - max(link.disconnected_at, link.created_at) < RELINK_AFTER_S:
                continue
            self._close_link(j, link, linger=0)
            fresh = self._add(j, link.kind, link.name, link.address, link.server_key)
            fresh.ever_connected = link.ever_connected

    def _close_link(self, index: int, link: PeerLink, linger: int | None = None) -> None:
        self._poller.unregister(link.monitor)
        if index == DEALER:
            self._poller.unregister(link.socket)
        try:
            link.socket.disable_monitor()
        except zmq.ZMQError:
            pass
        link.monitor.close(linger=0)
        link.socket.close(linger=linger)

    def close(self) -> None:
        for j, link in list(self.links.items()):
            self._close_link(j, link)
        self.links.clear()
