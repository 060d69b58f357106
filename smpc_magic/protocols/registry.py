"""Which protocol suites are installed, by the name a session file's ``protocol`` gives."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import SmpcError
from .base import ProtocolSuite

#: Protocols this project plans but has not shipped yet: named in the error, so users know.
PLANNED: dict[str, str] = {}

_FACTORIES: dict[str, Callable[[], ProtocolSuite]] = {}
_INSTANCES: dict[str, ProtocolSuite] = {}


class UnknownProtocolError(SmpcError, ValueError):
    """The session asks for a protocol this installation does not have."""


def register(name: str, factory: Callable[[], ProtocolSuite]) -> None:
    """Make a suite available under ``name`` (a test can register a reference suite)."""
    _FACTORIES[name] = factory
    _INSTANCES.pop(name, None)


def available() -> list[str]:
    _register_builtin()
    return sorted(_FACTORIES)


def get_suite(name: str) -> ProtocolSuite:
    """The suite for ``name``, or a clear error naming what is installed."""
    _register_builtin()
    if name not in _FACTORIES:
        choices = ", ".join(repr(n) for n in sorted(_FACTORIES))
        if name in PLANNED:
            raise UnknownProtocolError(
                f"protocol {name!r} ({PLANNED[name]}) is not installed in this version of smpc_magic yet; "
                f"available: {choices}."
            )
        raise UnknownProtocolError(f"unknown protocol {name!r}; available: {choices}.")
    if name not in _INSTANCES:
        _INSTANCES[name] = _FACTORIES[name]()
    return _INSTANCES[name]


def _register_builtin() -> None:
    if "additive" not in _FACTORIES:
        from .additive import AdditiveSuite

        _FACTORIES["additive"] = AdditiveSuite
    if "shamir" not in _FACTORIES:
        from .shamir import ShamirSuite

        _FACTORIES["shamir"] = ShamirSuite
