"""n-party additive secret sharing over Z_2^64: x = x_0 + ... + x_{n-1} mod 2^64."""

from __future__ import annotations

import numpy as np

from .prg import expand
from .ring import ring_op


@ring_op
def share(secret: np.ndarray, n_parties: int, seeds: list[bytes] | None = None, label: int = 0) -> list[np.ndarray]:
    """Split ``secret`` into ``n_parties`` shares.

    With ``seeds`` (one per party except party 0), the shares of parties 1.. are PRG expansions
    of the seeds and party 0 holds the correction; without, fresh seeds are drawn.
    """
    from .prg import new_seed

    secret = np.asarray(secret, dtype=np.uint64)
    if seeds is None:
        seeds = [new_seed() for _ in range(n_parties - 1)]
    others = [expand(s, label, secret.size).reshape(secret.shape) for s in seeds]
    first = secret.copy()
    for other in others:
        first -= other
    return [first, *others]


@ring_op
def reconstruct(shares: list[np.ndarray]) -> np.ndarray:
    """Add the shares back together."""
    total = np.array(shares[0], dtype=np.uint64, copy=True)
    for s in shares[1:]:
        total += s
    return total
