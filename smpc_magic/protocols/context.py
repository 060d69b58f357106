"""What a protocol needs to run at one party: who it is, a channel, a material source."""

from __future__ import annotations

from dataclasses import dataclass, field

from .channel import Channel
from .material import MaterialSource
from .suite import ADDITIVE, ProtocolSuite


@dataclass
class ProtocolContext:
    """Per-party state of one computation. ``step`` counts communication rounds; every party
    runs the same program, so the same step number means the same round everywhere."""

    channel: Channel
    material: MaterialSource
    frac_bits: int = 16
    step: int = field(default=0)
    suite: ProtocolSuite = field(default=ADDITIVE)

    @property
    def party(self) -> int:
        return self.channel.party

    @property
    def n_parties(self) -> int:
        return self.channel.n_parties

    @property
    def is_leader(self) -> bool:
        """Party 0 adds public constants and holds the dealer's corrections."""
        return self.channel.party == 0

    def next_step(self) -> int:
        self.step += 1
        return self.step
