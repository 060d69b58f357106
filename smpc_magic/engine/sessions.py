"""Making session files for a protocol: the registry says whether its sessions need a dealer."""

from __future__ import annotations

import os
from pathlib import Path

from kernel_bridge.session import DEFAULT_CELL_CPU_SECONDS, new_session

from ..errors import SmpcError
from ..protocols.registry import get_suite


def new_local_session(
    names: list[str],
    directory: str | os.PathLike[str],
    *,
    protocol: str = "additive",
    frac_bits: int = 16,
    timeout: float = 60.0,
    host: str = "127.0.0.1",
    schema: str | os.PathLike[str] | None = None,
    threshold: int | None = None,
    verify: str | None = None,
    cell_cpu_seconds: float = DEFAULT_CELL_CPU_SECONDS,
) -> Path:
    """``directory/session.toml`` and every party's (and the dealer's) key in ``directory/keys``.

    For local demos and tests: whoever holds that folder holds every site's key."""
    suite = get_suite(protocol)  # a clear error for a protocol that is not installed
    check_protocol_options(protocol, len(names), threshold, verify)
    return new_session(
        names,
        directory,
        protocol=protocol,
        frac_bits=frac_bits,
        timeout=timeout,
        host=host,
        with_dealer=suite.needs_dealer,
        schema=schema,
        threshold=threshold,
        verify=verify,
        cell_cpu_seconds=cell_cpu_seconds,
    )


def check_protocol_options(protocol: str, n_parties: int, threshold: int | None, verify: str | None) -> None:
    """Refuse settings the protocol cannot work with before any file is written."""
    options = {k: v for k, v in (("threshold", threshold), ("verify", verify)) if v is not None}
    try:
        get_suite(protocol).check_options(n_parties, options)
    except SmpcError:
        raise
    except ValueError as exc:
        raise SmpcError(str(exc)) from None
