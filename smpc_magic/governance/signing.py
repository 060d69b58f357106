"""A site's signing key for approvals and audit records, derived from its CurveZMQ key.

A site already guards one secret, its CurveZMQ key file; the Ed25519 signing key is derived
from that secret with HKDF (so there is nothing new to store or lose). Its public half is
printed as hex, for an auditor who verifies a log without holding the key file.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from zmq.utils import z85

from kernel_bridge.keys import KeyPair

_INFO = b"smpc_magic site signing key v1"


class SigningKey:
    """Signs with the key derived from one site's CurveZMQ secret."""

    def __init__(self, keys: KeyPair):
        seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
            z85.decode(keys.secret.encode("ascii"))
        )
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        raw = self._key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.public_hex = raw.hex()

    def sign(self, message: bytes) -> str:
        return self._key.sign(message).hex()

    def __repr__(self) -> str:
        return f"SigningKey(public={self.public_hex[:16]}...)"


def verify(public_hex: str, message: bytes, signature_hex: str) -> bool:
    """Whether ``signature_hex`` is the signature of ``message`` under ``public_hex``."""
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex))
        key.verify(bytes.fromhex(signature_hex), message)
        return True
    except (InvalidSignature, ValueError):
        return False
