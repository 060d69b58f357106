"""In-memory parties for unit tests of protocol math (threads, queues, a local dealer)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from smpc_magic.governance.disclosure import check_releases
from smpc_magic.governance.policy import OPEN
from smpc_magic.protocols.base import ProtocolSuite
from smpc_magic.protocols.context import ProtocolContext
from smpc_magic.protocols.registry import get_suite
from smpc_magic.protocols.testing import InMemoryNetwork
from smpc_magic.secret.array import SecretArray
from smpc_magic.secret.bounds import Bound
from smpc_magic.secret.core import reveal
from smpc_magic.stats import checks

#: The protocol of parties made without naming one (set by the ``protocol`` test fixture).
DEFAULT_PROTOCOL = ["additive"]


def default_suite(n: int) -> str:
    """The fixture's protocol, or the additive one for two parties (Shamir needs three or more)."""
    return "additive" if n < 3 else DEFAULT_PROTOCOL[0]


#: how long the in-memory parties of one computation may take together (a safety net for a
#: hung party; the tests' own pytest-timeout limits are the budget)
PARTY_WAIT_S = 400.0


class InMemoryParties:
    """``n`` parties as threads; ``suite`` defaults to the test's protocol (additive with a local
    dealer unless the ``protocol`` fixture says otherwise)."""

    def __init__(
        self,
        n: int,
        frac_bits: int = 16,
        suite: ProtocolSuite | str | None = None,
        options: dict[str, Any] | None = None,
    ):
        self.n = n
        self.suite = get_suite(suite or default_suite(n)) if suite is None or isinstance(suite, str) else suite
        self.network = InMemoryNetwork(n, timeout=20)
        self.sources = _material_sources(self.suite, n)
        self.ctxs = [
            ProtocolContext(
                self.network.channel(i), self.sources[i], self.suite, frac_bits, options=dict(options or {})
            )
            for i in range(n)
        ]
        self.frac_bits = frac_bits

    def run(self, fn: Callable[..., Any], *per_party_args: list[Any]) -> list[Any]:
        """Run fn(ctx, *args_i) in one thread per party; return the list of results."""
        out: list[Any] = [None] * self.n
        errors: list[BaseException] = []

        def work(i: int) -> None:
            try:
                out[i] = fn(self.ctxs[i], *[a[i] for a in per_party_args])
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(self.n)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + PARTY_WAIT_S
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in threads):
            raise TimeoutError(f"an in-memory party did not finish within {PARTY_WAIT_S:.0f} s")
        if errors:
            raise errors[0]
        return out

    def share(self, values: Any) -> tuple[list[np.ndarray], int]:
        """Shares of ``values`` for every party (the owner is party 0)."""
        encoded, scale = self.suite.codec.encode_input(np.asarray(values), self.frac_bits, "test input")
        shares = self.run(lambda ctx: _share_from_leader(ctx, encoded))
        return shares, scale

    def compute(
        self, fn: Callable[..., Any], *plain_inputs: Any, ranges: list[tuple[float, float] | None] | None = None
    ) -> np.ndarray:
        """Share the plain inputs, run fn on SecretArrays at every party, reveal, return party 0's value.

        Each input's public range is ``ranges[i]``, or by default the data's own [min, max] (as
        a study schema declaring exactly this data would give it); ``None`` in the list means
        no declared range (the encoding limit)."""
        shared = [self.share(v) for v in plain_inputs]
        declared = list(ranges) if ranges is not None else [_data_range(v) for v in plain_inputs]
        declared = [
            (0.0, 1.0) if r is None and np.asarray(v).dtype.kind == "b" else r for r, v in zip(declared, plain_inputs)
        ]

        def body(ctx: ProtocolContext, *shares: np.ndarray) -> np.ndarray:
            xs = [
                SecretArray(
                    ctx, s, scale, None if r is None else Bound.of(*r, np.ndim(s)).widen(2.0**-scale if scale else 0.0)
                )
                for s, (_, scale), r in zip(shares, shared, declared)
            ]
            ctx.checks.clear()  # the engine gives every cell a fresh context; these parties reuse theirs
            ctx.registry.clear()
            out = fn(*xs)
            # the statistics' deferred checks, opened as the engine opens them at the end of a cell
            check_releases({}, [], OPEN, pending=checks.pending(ctx))
            return reveal({"out": out})["out"]

        results = self.run(body, *[s for s, _ in shared])
        for r in results[1:]:
            np.testing.assert_array_equal(r, results[0])
        return results[0]


def _data_range(values: Any) -> tuple[float, float]:
    arr = np.asarray(values, dtype=np.float64)
    return (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)


def _share_from_leader(ctx: ProtocolContext, encoded: np.ndarray) -> np.ndarray:
    """Party 0 shares a value with the suite's own input sharing (one exchange)."""
    sharing = ctx.suite.input_sharing(ctx)
    from smpc_magic.protocols.channel import Message

    outgoing = {j: Message(arrays) for j, arrays in sharing.outgoing().items()}
    received = ctx.channel.exchange(ctx.next_step(), "share", outgoing, {j: sharing.expected() for j in outgoing})
    sharing.receive({j: m.arrays for j, m in received.items()})
    return sharing.share(0, 0, tuple(encoded.shape), encoded if ctx.party == 0 else None)


def _material_sources(suite: ProtocolSuite, n: int) -> list[Any]:
    if suite.name == "additive":
        from smpc_magic.protocols.additive.testing import LocalDealer

        dealer = LocalDealer(n)
        return [dealer.source(i) for i in range(n)]
    if suite.name == "shamir":
        return [suite.material_source(i, None, None) for i in range(n)]
    return [None] * n
