"""In-memory parties for unit tests of protocol math (threads, queues, a local dealer)."""

from __future__ import annotations

import threading

import numpy as np

from smpc_magic.protocols.channel import InMemoryNetwork
from smpc_magic.protocols.context import ProtocolContext
from smpc_magic.protocols.material import LocalDealer
from smpc_magic.secure_array import SecretArray, reveal
from smpc_magic.sharing.additive import share
from smpc_magic.sharing.ring import encode


class InMemoryParties:
    def __init__(self, n: int, frac_bits: int = 16):
        self.n = n
        self.network = InMemoryNetwork(n, timeout=20)
        self.dealer = LocalDealer(n)
        self.ctxs = [ProtocolContext(self.network.channel(i), self.dealer.source(i), frac_bits) for i in range(n)]
        self.frac_bits = frac_bits

    def run(self, fn, *per_party_args):
        """Run fn(ctx, *args_i) in one thread per party; return the list of results."""
        out, errors = [None] * self.n, []

        def work(i):
            try:
                out[i] = fn(self.ctxs[i], *[a[i] for a in per_party_args])
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(self.n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        if errors:
            raise errors[0]
        return out

    def share(self, values) -> tuple[list[np.ndarray], int]:
        enc, scale = encode(values, self.frac_bits)
        return share(enc, self.n), scale

    def compute(self, fn, *plain_inputs):
        """Share the plain inputs, run fn on SecretArrays at every party, reveal, return party 0's value."""
        shared = [self.share(v) for v in plain_inputs]

        def body(ctx, *shares):
            xs = [SecretArray(ctx, s, scale) for s, (_, scale) in zip(shares, shared)]
            return reveal({"out": fn(*xs)})["out"]

        results = self.run(body, *[s for s, _ in shared])
        for r in results[1:]:
            np.testing.assert_array_equal(r, results[0])
        return results[0]
