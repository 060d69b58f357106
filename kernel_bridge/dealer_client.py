"""Requests to the session's dealer: ids, and the replies waiting to be picked up (bounded)."""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np

from . import framing
from .liveness import PING_PREFIX

#: Replies nobody waits for any more (a request that timed out) are dropped past this many.
MAX_REPLIES = 64


class DealerClient:
    def __init__(self, session: str):
        self.session = session
        self._replies: dict[str, tuple[framing.Header, list[np.ndarray]]] = {}
        self._waiting: set[str] = set()

    def request(self, kind: str, meta: dict[str, Any], arrays: list[np.ndarray]) -> tuple[str, list]:
        """A request id and the frames to send."""
        request_id = secrets.token_hex(8)
        self._waiting.add(request_id)
        header = framing.Header(self.session, kind, "", 0, kind, {**meta, "request": request_id})
        return request_id, framing.encode(header, arrays)

    def accept(self, header: framing.Header, arrays: list[np.ndarray]) -> str | None:
        """Keep a reply to a request still waited for; returns a ping's request id for timing."""
        request_id = header.meta.get("request")
        if not isinstance(request_id, str):
            return None
        if request_id.startswith(PING_PREFIX):
            return request_id
        if request_id in self._waiting and len(self._replies) < MAX_REPLIES:
            self._replies[request_id] = (header, arrays)
        return None

    def pop(self, request_id: str) -> tuple[framing.Header, list[np.ndarray]] | None:
        return self._replies.pop(request_id, None)

    def give_up(self, request_id: str) -> None:
        self._waiting.discard(request_id)
        self._replies.pop(request_id, None)
