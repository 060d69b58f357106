"""The party mesh: one CurveZMQ PULL socket that receives from every peer, one PUSH socket to
each peer, and a DEALER socket to the dealer.

A sender is identified by the public key CurveZMQ authenticated (the frame's ``User-Id``), never
by anything it wrote itself. Every wait polls with the session timeout; a socket monitor on each
outgoing connection notices a peer whose process died, so waits on it fail at once with an
error that names the party and the step.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import zmq
from zmq.utils.monitor import recv_monitor_message

from . import framing
from .auth import curve_client, curve_server, start_authenticator
from .errors import BridgeError, FrameError, PeerAborted, PeerDisconnected, PeerTimeout
from .keys import KeyPair
from .session import SessionConfig

POLL_SLICE_S = 0.05
SERVICE_INTERVAL_S = 1.0
#: A fresh link that has not connected after this long means the peer is not there.
UNREACHABLE_AFTER_S = 5.0
#: A peer link down for longer than this gets a fresh socket (see ``_refresh_stale_links``).
RELINK_AFTER_S = 2.0
#: After a peer's connection drops, how long to keep reading what it sent before giving up on it.
DISCONNECT_GRACE_S = 1.0

DEALER = -1  # peer index used for the dealer in status maps
#: Messages of this computation id are dropped when their sender's connection drops: a party
#: that died cannot still be starting a computation.
RENDEZVOUS = "rendezvous"


@dataclass
class MeshStats:
    bytes_sent: int = 0
    bytes_received: int = 0
    messages_sent: int = 0
    messages_received: int = 0
    dropped: int = 0


@dataclass
class _PeerLink:
    name: str
    socket: zmq.Socket
    monitor: zmq.Socket
    connected: bool = False
    ever_connected: bool = False
    disconnected_at: float | None = None
    auth_failed: bool = False
    rtt_s: float | None = None
    last_heard: float | None = None
    address: str = ""
    server_key: str = ""
    kind: int = 0
    created_at: float = field(default_factory=time.monotonic)

    def gone(self, now: float) -> bool:
        """The peer dropped (and stayed away past a grace period), or never came on this socket."""
        if self.connected:
            return False
        if self.disconnected_at is not None:
            return now - self.disconnected_at > DISCONNECT_GRACE_S
        return now - self.created_at > UNREACHABLE_AFTER_S


class Mesh:
    """This party's connections to its peers and the dealer, for one session."""

    def __init__(self, config: SessionConfig, me: str, keys: KeyPair, *, record_path: str | None = None):
        self.config = config
        self.me = config.index(me)
        self.name = me
        self.keys = keys
        if config.parties[self.me].public_key != keys.public:
            raise BridgeError(
                f"the key file's public key does not match party {me!r} in the session file; "
                "use the key made for this party (keys/<name>.key beside the session file)"
            )
        self.timeout = config.timeout
        self.stats = MeshStats()
        self.incarnation = secrets.token_hex(4)
        self._buffer: dict[tuple[int, str, int], tuple[framing.Header, list[np.ndarray]]] = {}
        self._aborts: dict[str, tuple[int, str, str]] = {}
        self._withdrawn: set[tuple[int, str]] = set()
        self._key_to_index = {p.public_key: i for i, p in enumerate(config.parties)}
        self._record = open(record_path, "ab") if record_path else None  # noqa: SIM115 - closed in close()
        self._closed = False
        # Sockets are used by the caller's thread and by the liveness service thread, never at
        # the same time: every socket operation holds this lock (a full memory barrier).
        self._lock = threading.RLock()
        self._service: threading.Thread | None = None
        self.busy = False  # True while the owner runs a computation
        self._stop_service = threading.Event()
        self._ctx = zmq.Context(io_threads=2)
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
            self._links: dict[int, _PeerLink] = {}
            for j, peer in enumerate(config.parties):
                if j != self.me:
                    self._links[j] = self._open_link(zmq.PUSH, peer.name, peer.address, peer.public_key)
            if config.dealer is not None:
                self._links[DEALER] = self._open_link(
                    zmq.DEALER, config.dealer.name, config.dealer.address, config.dealer.public_key
                )
            self._poller = zmq.Poller()
            self._poller.register(self._inbox, zmq.POLLIN)
            for link in self._links.values():
                self._poller.register(link.monitor, zmq.POLLIN)
            if DEALER in self._links:
                self._poller.register(self._links[DEALER].socket, zmq.POLLIN)
        except BaseException:
            self.close()
            raise
        self._dealer_replies: dict[str, tuple[framing.Header, list[np.ndarray]]] = {}

    # ----- connections --------------------------------------------------------------------------
    def _open_link(self, kind: int, name: str, address: str, server_key: str) -> _PeerLink:
        sock = curve_client(self._ctx, kind, self.keys, server_key)
        monitor = sock.get_monitor_socket(
            zmq.EVENT_HANDSHAKE_SUCCEEDED
            | zmq.EVENT_DISCONNECTED
            | zmq.EVENT_HANDSHAKE_FAILED_AUTH
            | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
            | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
        )
        sock.connect(address)
        return _PeerLink(name, sock, monitor, address=address, server_key=server_key, kind=kind)

    def _drain_monitor(self, link: _PeerLink) -> None:
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
                index = next((j for j, other in self._links.items() if other is link), None)
                for key in [k for k in self._buffer if k[0] == index and k[1] == RENDEZVOUS]:
                    del self._buffer[key]
            else:
                link.auth_failed = True

    def _refresh_stale_links(self, at_once: bool = False) -> None:
        """Replace outgoing sockets whose peer went away more than a moment ago.

        A fresh socket reconnects at once when the peer comes back (a restarted kernel); an old
        CURVE client socket can keep failing to reconnect after a long outage (pyzmq #847), and
        its queue holds only messages of computations that failed with the peer. Never done
        while a computation runs (``busy``), so no message of a live computation is dropped.
        """
        now = time.monotonic()
        for j, link in list(self._links.items()):
            if link.connected or link.disconnected_at is None:
                continue
            if not at_once and now - max(link.disconnected_at, link.created_at) < RELINK_AFTER_S:
                continue
            self._poller.unregister(link.monitor)
            if j == DEALER:
                self._poller.unregister(link.socket)
            try:
                link.socket.disable_monitor()
            except zmq.ZMQError:
                pass
            link.monitor.close(linger=0)
            link.socket.close(linger=0)
            fresh = self._open_link(link.kind, link.name, link.address, link.server_key)
            fresh.ever_connected = link.ever_connected
            self._links[j] = fresh
            self._poller.register(fresh.monitor, zmq.POLLIN)
            if j == DEALER:
                self._poller.register(fresh.socket, zmq.POLLIN)

    def peer_status(self) -> dict[str, dict]:
        """Per peer (and the dealer): authenticated connection up, last round-trip time (s)."""
        with self._lock:
            for link in self._links.values():
                self._drain_monitor(link)
            return {
                link.name: {"connected": link.connected, "rtt_s": link.rtt_s, "dealer": j == DEALER}
                for j, link in self._links.items()
            }

    # ----- liveness service ---------------------------------------------------------------------
    def start_service(self, interval: float = SERVICE_INTERVAL_S) -> None:
        """Keep answering and sending pings while the owner is idle (a kernel between cells)."""
        if self._service is not None:
            return
        self._service = threading.Thread(target=self._service_loop, args=(interval,), name="smpc-mesh", daemon=True)
        self._service.start()

    def _service_loop(self, interval: float) -> None:
        while not self._stop_service.wait(interval):
            if self.busy:  # a computation polls the sockets itself; never hold it up
                continue
            if not self._lock.acquire(timeout=interval):
                continue
            try:
                if self._closed:
                    return
                self._poll_locked(0)
                self._refresh_stale_links()
                self.ping()
                self._poll_locked(0.05)  # collect the pongs now, so round trips are measured right
            except zmq.ZMQError:
                pass
            finally:
                self._lock.release()

    def ping(self) -> None:
        """Send a ping to every connected peer and the dealer; replies update ``rtt_s``."""
        with self._lock:
            now = time.monotonic()
            for j, link in self._links.items():
                if not link.connected:
                    continue
                if j == DEALER:
                    header = framing.Header(self.config.session_id, "ping", "", 0, "ping", {"request": f"ping:{now!r}"})
                else:
                    header = framing.Header(self.config.session_id, "ping", "", 0, "ping", {"t": now})
                try:
                    link.socket.send_multipart(framing.encode(header, []), flags=zmq.NOBLOCK)
                except zmq.ZMQError:
                    pass

    def wait_for_peers(self, timeout: float | None = None, include_dealer: bool = True) -> None:
        """Block until every peer (and the dealer) completed the CurveZMQ handshake."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        wanted = [j for j in self._links if include_dealer or j != DEALER]
        while True:
            for link in self._links.values():
                self._drain_monitor(link)
            missing = [self._links[j] for j in wanted if not self._links[j].connected]
            if not missing:
                return
            if time.monotonic() >= deadline:
                names = ", ".join(repr(link.name) for link in missing)
                hint = (
                    " Their keys were refused: check that every site uses the same session file."
                    if any(link.auth_failed for link in missing)
                    else " Check that they have started and joined this session."
                )
                raise PeerTimeout(
                    f"party {self.name!r} could not reach {names} within {timeout:.0f} s.{hint}",
                    party=missing[0].name,
                    step="connect",
                )
            self._poll_once(min(POLL_SLICE_S, max(0.0, deadline - time.monotonic())))

    # ----- sending ------------------------------------------------------------------------------
    def send(
        self,
        peer: int,
        kind: str,
        computation: str,
        step: int,
        label: str,
        arrays: Sequence[np.ndarray],
        meta: dict | None = None,
    ) -> None:
        header = framing.Header(self.config.session_id, kind, computation, step, label, meta or {})
        frames = framing.encode(header, list(arrays))
        deadline = time.monotonic() + self.timeout
        while True:  # never block forever on a peer whose queue is full (it died or stalled)
            with self._lock:
                link = self._links[peer]
                try:
                    link.socket.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
                    break
                except zmq.Again:
                    pass
            if time.monotonic() >= deadline:
                raise PeerTimeout(
                    f"cannot send to party {link.name!r} at step '{label}': its queue has been full for "
                    f"{self.timeout:.0f} s (it stopped reading). Check that its kernel is running.",
                    party=link.name,
                    step=label,
                )
            self._poll_once(POLL_SLICE_S)
        self.stats.messages_sent += 1
        self.stats.bytes_sent += sum(len(f) if isinstance(f, bytes) else f.nbytes for f in frames)

    def broadcast_abort(self, computation: str, label: str, message: str, withdraw: str | None = None) -> None:
        """Tell every peer this party gave up on ``computation`` (best effort, never blocks).

        ``withdraw`` names the nonce of this party's rendezvous message, which peers then drop.
        """
        meta = {"message": message[:2000], **({"withdraw": withdraw} if withdraw else {})}
        header = framing.Header(self.config.session_id, "abort", computation, 0, label, meta)
        with self._lock:
            for j, link in self._links.items():
                if j == DEALER:
                    continue
                try:
                    link.socket.send_multipart(framing.encode(header, []), flags=zmq.NOBLOCK)
                except zmq.ZMQError:
                    pass

    # ----- receiving ----------------------------------------------------------------------------
    def _poll_once(self, timeout_s: float) -> None:
        with self._lock:
            if self._closed:
                raise BridgeError("this connection to the session was closed")
            self._poll_locked(timeout_s)

    def _poll_locked(self, timeout_s: float) -> None:
        events = dict(self._poller.poll(int(timeout_s * 1000)))
        if self._inbox in events:
            while True:
                try:
                    frames = self._inbox.recv_multipart(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                self._accept(frames)
        dealer = self._links.get(DEALER)
        if dealer is not None and dealer.socket in events:
            while True:
                try:
                    frames = dealer.socket.recv_multipart(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                self._accept_dealer(frames)
        for link in self._links.values():
            if link.monitor in events:
                self._drain_monitor(link)

    def _accept(self, frames) -> None:
        user_id = frames[0].get("User-Id")
        sender = self._key_to_index.get(user_id)
        size = sum(len(f.buffer) for f in frames)
        self.stats.messages_received += 1
        self.stats.bytes_received += size
        if self._record is not None:
            for f in frames:
                self._record.write(bytes(f.buffer))
        if sender is None or sender == self.me:
            self.stats.dropped += 1
            return
        try:
            header, arrays = framing.decode(frames, self.config.session_id)
        except FrameError:
            self.stats.dropped += 1
            return
        link = self._links[sender]
        link.last_heard = time.monotonic()
        if header.kind == "abort":
            if header.computation != RENDEZVOUS:
                self._aborts.setdefault(header.computation, (sender, header.label, str(header.meta.get("message", ""))))
            withdrawn = header.meta.get("withdraw")
            if isinstance(withdrawn, str):
                self._withdrawn.add((sender, withdrawn))
            return
        if header.kind == "ping":
            pong = framing.Header(self.config.session_id, "pong", "", 0, "pong", {"t": header.meta.get("t")})
            try:
                link.socket.send_multipart(framing.encode(pong, []), flags=zmq.NOBLOCK)
            except zmq.ZMQError:
                pass
            return
        if header.kind == "pong":
            sent = header.meta.get("t")
            if isinstance(sent, float) and sent <= time.monotonic():
                link.rtt_s = time.monotonic() - sent
            return
        self._buffer[(sender, header.computation, header.step)] = (header, arrays)

    def _accept_dealer(self, frames) -> None:
        try:
            header, arrays = framing.decode(frames, self.config.session_id)
        except FrameError:
            self.stats.dropped += 1
            return
        self.stats.bytes_received += sum(len(f.buffer) for f in frames)
        request_id = header.meta.get("request")
        if isinstance(request_id, str) and request_id.startswith("ping:"):
            try:
                self._links[DEALER].rtt_s = time.monotonic() - float(request_id[5:])
            except ValueError:
                pass
        elif isinstance(request_id, str):
            self._dealer_replies[request_id] = (header, arrays)

    def _check_abort(self, computation: str) -> None:
        if computation in self._aborts:
            sender, label, message = self._aborts[computation]
            name = self.config.parties[sender].name
            raise PeerAborted(
                f"party {name!r} stopped the computation at step '{label}': {message}", party=name, step=label
            )

    def recv(
        self, peer: int, computation: str, step: int, label: str, timeout: float | None = None
    ) -> tuple[framing.Header, list[np.ndarray]]:
        """The message ``peer`` sent for (computation, step); errors name the peer and the step."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        key = (peer, computation, step)
        link = self._links[peer]
        first = True
        while True:
            with self._lock:
                if first:  # bring connection state up to date before judging it
                    self._poll_locked(0)
                    first = False
                if key in self._buffer:
                    return self._buffer.pop(key)
                self._check_abort(computation)
            now = time.monotonic()
            link = self._links[peer]  # may have been replaced by a fresh socket
            if link.gone(now):
                raise PeerDisconnected(
                    f"lost the connection to party {link.name!r} at step '{label}' (step {step}): its process "
                    "stopped or its network went away. Restart it and run the cell again at every site.",
                    party=link.name,
                    step=label,
                )
            if now >= deadline:
                raise PeerTimeout(
                    f"party {link.name!r} sent nothing for {timeout:.0f} s at step '{label}' (step {step}). "
                    "Check that its kernel is running the same cell; raise the session timeout for long computations.",
                    party=link.name,
                    step=label,
                )
            self._poll_once(min(POLL_SLICE_S, max(0.0, deadline - now)))

    def forget(self, computation: str) -> None:
        """Drop buffered messages of a finished or abandoned computation."""
        with self._lock:
            for key in [k for k in self._buffer if k[1] == computation]:
                del self._buffer[key]
            self._aborts.pop(computation, None)

    def purge_withdrawn(self) -> None:
        """Before a new rendezvous: drop rendezvous messages of attempts their senders gave up,
        and everything buffered for earlier computations (no peer can be past a rendezvous
        this party has not joined yet)."""
        with self._lock:
            self._poll_locked(0)
            self._refresh_stale_links(at_once=True)
            for key in [k for k in self._buffer if k[1] != RENDEZVOUS]:
                del self._buffer[key]
            for sender, nonce in list(self._withdrawn):
                pending = self._buffer.get((sender, RENDEZVOUS, 0))
                if pending is not None and pending[0].meta.get("nonce") == nonce:
                    del self._buffer[(sender, RENDEZVOUS, 0)]
            self._withdrawn.clear()

    def forget_all_but(self, computation: str) -> None:
        """Drop everything buffered for other computations (stale messages of aborted runs)."""
        with self._lock:
            self._poll_locked(0)
            for key in [k for k in self._buffer if k[1] != computation]:
                del self._buffer[key]
            for key in [k for k in self._aborts if k != computation]:
                del self._aborts[key]

    # ----- the dealer ---------------------------------------------------------------------------
    def dealer_request(
        self, kind: str, meta: dict, arrays: Sequence[np.ndarray] = (), timeout: float | None = None
    ) -> tuple[framing.Header, list[np.ndarray]]:
        """Ask the dealer for something and wait for its answer (with the session timeout)."""
        if DEALER not in self._links:
            raise BridgeError("this session has no dealer")
        timeout = self.timeout if timeout is None else timeout
        request_id = secrets.token_hex(8)
        header = framing.Header(self.config.session_id, kind, "", 0, kind, {**meta, "request": request_id})
        link = self._links[DEALER]
        with self._lock:
            link.socket.send_multipart(framing.encode(header, list(arrays)), copy=False)
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                reply = self._dealer_replies.pop(request_id, None)
            if reply is not None:
                if reply[0].kind == "error":
                    raise BridgeError(f"the dealer refused the request: {reply[0].meta.get('message', '')}")
                return reply
            now = time.monotonic()
            link = self._links[DEALER]  # may have been replaced by a fresh socket
            if link.gone(now):
                raise PeerDisconnected(
                    f"lost the connection to the dealer {link.name!r} while asking for {meta.get('stream', kind)}. "
                    "Restart it with `smpc dealer SESSION`.",
                    party=link.name,
                    step=kind,
                )
            if now >= deadline:
                raise PeerTimeout(
                    f"the dealer {link.name!r} did not answer within {timeout:.0f} s ({kind}). "
                    "Check that `smpc dealer SESSION` is running.",
                    party=link.name,
                    step=kind,
                )
            self._poll_once(min(POLL_SLICE_S, max(0.0, deadline - now)))

    # ----- shutdown -----------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._stop_service.set()
        if self._service is not None:
            self._service.join(timeout=5)
        with self._lock:
            self._closed = True
            self._close_sockets()

    def _close_sockets(self) -> None:
        for link in getattr(self, "_links", {}).values():
            try:
                link.socket.disable_monitor()
            except zmq.ZMQError:
                pass
            link.monitor.close(linger=0)
            link.socket.close()
        inbox = getattr(self, "_inbox", None)
        if inbox is not None:
            inbox.close(linger=0)
        auth = getattr(self, "_auth", None)
        if auth is not None:
            auth.stop()
        self._ctx.term()
        if self._record is not None:
            self._record.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
