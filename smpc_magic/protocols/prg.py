"""Cryptographically secure randomness for shares and masks.

Bulk randomness is an AES-256-CTR keystream (about 6 GB/s here, against 0.3 GB/s for
``os.urandom``) keyed by a 32-byte seed from the OS generator. A seed plus a label names a
stream, so one party can send a 32-byte seed instead of a whole random share.
"""

from __future__ import annotations

import secrets

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SEED_BYTES = 32


def new_seed() -> bytes:
    """A fresh 32-byte seed from the operating system's CSPRNG."""
    return secrets.token_bytes(SEED_BYTES)


def expand(seed: bytes, label: int, count: int, offset: int = 0) -> npt.NDArray[np.uint64]:
    """``count`` pseudo-random uint64 words of stream ``label`` under ``seed``, from word ``offset``.

    The counter block is (label << 64) + block index, so distinct labels never overlap and any
    slice of a stream can be produced without generating what comes before it.
    """
    if len(seed) != SEED_BYTES:
        raise ValueError("a PRG seed must be 32 bytes")
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    first_block, skip = divmod(offset, 2)
    counter = ((label & 0xFFFFFFFFFFFFFFFF) << 64) | first_block
    encryptor = Cipher(algorithms.AES(seed), modes.CTR(counter.to_bytes(16, "big"))).encryptor()
    nbytes = (count + skip) * 8
    stream = encryptor.update(bytes(nbytes)) + encryptor.finalize()
    return np.frombuffer(stream, dtype=np.uint64)[skip : skip + count]


def derive_seed(seed: bytes, label: int) -> bytes:
    """A sub-seed, independent for each label (used to give each party its own seed)."""
    return expand(seed, (1 << 63) | label, SEED_BYTES // 8).tobytes()


def random_ring(shape: tuple[int, ...]) -> npt.NDArray[np.uint64]:
    """Uniform ring elements of ``shape`` from a fresh seed."""
    size = int(np.prod(shape, dtype=np.int64))
    return expand(new_seed(), 0, size).reshape(shape)
