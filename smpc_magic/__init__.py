"""smpc_magic: secure multiparty computation for health data research, inside Jupyter.

Public API: :func:`simulate`, :func:`labels`, :func:`rows`, :class:`SecretArray`, the error classes in :mod:`smpc_magic.errors`,
the ``%smpc`` magics (``%load_ext smpc_magic``) and the ``smpc`` command line.
"""

from typing import Any

from .errors import (
    CellBoundaryError,
    CellError,
    EncodingError,
    InputMismatchError,
    PartyFailed,
    PeerAborted,
    PeerDisconnected,
    PeerTimeout,
    SecretValueError,
    SmpcError,
    UnknownNameError,
)
from .launch.simulate import simulate
from .schema.levels import labels
from .secret.array import SecretArray
from .sources.rows import rows

__version__ = "0.1.0"

__all__ = [
    "CellBoundaryError",
    "CellError",
    "EncodingError",
    "InputMismatchError",
    "PartyFailed",
    "PeerAborted",
    "PeerDisconnected",
    "PeerTimeout",
    "SecretArray",
    "SecretValueError",
    "SmpcError",
    "UnknownNameError",
    "labels",
    "rows",
    "simulate",
]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext smpc_magic``: register the %smpc and %%smpc magics."""
    from .jupyter.magics import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext smpc_magic``: disconnect and remove the magics."""
    from .jupyter.magics import unload

    unload(ipython)
