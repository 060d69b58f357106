"""smpc_magic: secure multiparty computation for health data research, inside Jupyter.

Public API: :func:`simulate`, :func:`labels`, :func:`rows`, :class:`SecretArray`, the error classes in :mod:`smpc_magic.errors`,
the ``%smpc`` magics (``%load_ext smpc_magic``) and the ``smpc`` command line.
"""

import importlib
import logging
from typing import TYPE_CHECKING, Any

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

# a library's loggers: silent unless the application configures logging (smpc_magic.engine.logs)
logging.getLogger("smpc_magic").addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from .launch.simulate import simulate
    from .schema.levels import labels
    from .secret.array import SecretArray
    from .sources.rows import rows

#: public names loaded on first use, so that importing a lower layer (``smpc_magic.protocols``)
#: loads neither ZeroMQ nor the sandbox nor the process launcher
_LAZY = {
    "simulate": ".launch.simulate",
    "labels": ".schema.levels",
    "SecretArray": ".secret.array",
    "rows": ".sources.rows",
}

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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'smpc_magic' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext smpc_magic``: register the %smpc and %%smpc magics."""
    from .jupyter.magics import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext smpc_magic``: disconnect and remove the magics."""
    from .jupyter.magics import unload

    unload(ipython)
