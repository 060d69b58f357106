"""``smpc dealer SESSION``: the session protocol's dealer logic served by kernel_bridge's dealer
service (a CurveZMQ ROUTER that answers only the session's parties)."""

from __future__ import annotations

import os
from typing import Any

from kernel_bridge.dealer_service import DealerServer
from kernel_bridge.framing import Header
from kernel_bridge.keys import load_keypair
from kernel_bridge.session import load_session

from ..errors import SmpcError
from ..protocols.base import Array
from ..protocols.registry import get_suite

#: Printed once the dealer listens; launchers wait for it before starting parties.
READY_LINE = "smpc dealer: listening on"


def run_dealer(
    session_path: str | os.PathLike[str],
    key_path: str | os.PathLike[str] | None = None,
    state_dir: str | os.PathLike[str] | None = None,
    idle_timeout: float | None = None,
) -> None:
    """Serve the session's parties until stopped."""
    config = load_session(session_path)
    logic = get_suite(config.protocol).dealer_logic(
        config.n_parties, str(state_dir or config.directory / "dealer-state")
    )
    if logic is None or config.dealer is None:
        raise SmpcError(f"the {config.protocol!r} protocol runs without a dealer; there is nothing to start")
    keys = load_keypair(key_path or config.default_key_path(config.dealer.name))

    def handle(party: int, header: Header, arrays: list[Array]) -> tuple[str, dict[str, Any], list[Array]]:
        return logic.handle(party, header.kind, header.meta)

    server = DealerServer(config, keys, handle)
    print(f"{READY_LINE} {config.dealer.address} (session {config.session_id})", flush=True)
    server.serve(idle_timeout=idle_timeout)
