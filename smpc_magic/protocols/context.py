"""What a protocol needs to run at one party: who it is, a channel, material and the suite."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .base import MaterialSource, ProtocolSuite
from .channel import Channel


@dataclass
class ProtocolContext:
    """Per-party state of one computation. ``step`` counts communication rounds; every party
    runs the same program, so the same step number means the same round everywhere."""

    channel: Channel
    material: MaterialSource
    suite: ProtocolSuite
    frac_bits: int = 16
    step: int = field(default=0)
    #: the session's protocol settings (e.g. Shamir's ``threshold`` and ``verify``)
    options: dict[str, Any] = field(default_factory=dict)
    #: what the protocol noticed and the sites should be told (e.g. a corrected false share)
    notices: list[str] = field(default_factory=list)
    #: secret pass/fail flags of checks deferred to the end of the computation (opened together
    #: by the engine, never one by one)
    checks: list[Any] = field(default_factory=list)
    #: what the computation's statistics registered for later ones in the same computation (the
    #: same at every party, from public facts only): the time points used on each time variable
    registry: dict[str, Any] = field(default_factory=dict)
    #: numbers the values a computation derives (the same at every party, which runs the same
    #: program; started from the computation id so kept values of earlier cells differ)
    serial: int = field(default=0)

    @property
    def party(self) -> int:
        return self.channel.party

    @property
    def n_parties(self) -> int:
        return self.channel.n_parties

    @property
    def is_leader(self) -> bool:
        """Party 0 adds public constants (and, with a dealer, holds its corrections)."""
        return self.channel.party == 0

    def next_serial(self) -> int:
        self.serial += 1
        return self.serial

    def next_step(self) -> int:
        self.step += 1
        return self.step
