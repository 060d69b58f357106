"""The two signing keys of a site, kept apart on purpose.

**The site's audit key** signs the site's audit log, which the site's own kernel writes. It is
the site's CurveZMQ key itself, used for Ed25519 signatures as Signal's XEdDSA does: the
Curve25519 secret scalar ``k`` is used as the Edwards scalar (negated if needed, so that the
public point's sign bit is 0), and the Ed25519 public key is the birational image of the
CurveZMQ public key, ``y = (u - 1) / (u + 1)``. So the key that verifies a site's audit log is
computed from the site's *public* CurveZMQ key in the session file — the file every site
agreed on and whose fingerprints they compared — and never from anything the log says about
itself: ``smpc audit verify`` needs no key file, and a log rewritten with any other key fails.
The signatures are ordinary Ed25519 signatures (verified with ``cryptography``); only the
signing, with a given scalar rather than a seed, is done here in Python. That arithmetic is
not constant time; it runs only inside the site's own kernel, on records written to its own
disk, and no peer sees a signature or can time one.

**The custodian's key** signs approvals and revocations (:mod:`.approvals`). It is an
independent Ed25519 key, made by ``smpc custodian keygen``, neither the CurveZMQ key nor derived
from it: the analyst's kernel, which must read the CurveZMQ key to connect, cannot sign an
approval. Its private half is a file of the custodian's (``keys/SITE.custodian.key`` in a local
demo; in a real deployment, on the custodian's machine or account, never where the kernel
runs); its public half, ``keys/SITE.custodian.pub`` beside the site's key file, is all the
kernel reads.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from zmq.utils import z85

from kernel_bridge.errors import SessionFileError
from kernel_bridge.files import atomic_write, check_private, private_dir
from kernel_bridge.keys import KeyPair

from ..errors import PolicyError

# ----- Edwards25519 arithmetic, for XEdDSA signing with the CurveZMQ scalar ----------------------
_P = 2**255 - 19
_Q = 2**252 + 27742317777372353535851937790883648493  # the prime order of the base point
_D = -121665 * pow(121666, _P - 2, _P) % _P
_BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202
_BY = 46316835694926478169428394003475163141307993866256225615783033603165251855960
_Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T): x = X/Z, y = Y/Z, xy = T/Z
_BASE_MULTIPLES: list[_Point] = []  # 2^i * B


def _add(p1: _Point, p2: _Point) -> _Point:
    """The unified (complete) addition for a = -1 twisted Edwards curves (add-2008-hwcd-3)."""
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = 2 * _D * t1 * t2 % _P
    d = 2 * z1 * z2 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return e * f % _P, g * h % _P, f * g % _P, e * h % _P


def _base_times(scalar: int) -> _Point:
    if not _BASE_MULTIPLES:
        point: _Point = (_BX, _BY, 1, _BX * _BY % _P)
        for _ in range(253):
            _BASE_MULTIPLES.append(point)
            point = _add(point, point)
    acc: _Point = (0, 1, 1, 0)
    scalar %= _Q
    for i in range(scalar.bit_length()):
        if scalar >> i & 1:
            acc = _add(acc, _BASE_MULTIPLES[i])
    return acc


def _affine(point: _Point) -> tuple[int, int]:
    zinv = pow(point[2], _P - 2, _P)
    return point[0] * zinv % _P, point[1] * zinv % _P


def _encode(point: _Point) -> bytes:
    x, y = _affine(point)
    return (y | (x & 1) << 255).to_bytes(32, "little")


def audit_public_key(curve_public: str) -> str:
    """The Ed25519 key (hex) that verifies the audit log of the site whose CurveZMQ public key
    (Z85, as in the session file) is ``curve_public``."""
    u = int.from_bytes(z85.decode(curve_public.encode("ascii")), "little") & ((1 << 255) - 1)
    if (u + 1) % _P == 0:
        raise ValueError("not a CurveZMQ public key")
    y = (u - 1) * pow(u + 1, _P - 2, _P) % _P
    return y.to_bytes(32, "little").hex()  # sign bit 0: the signer chose its scalar so


class SigningKey:
    """The site's audit signing key: its CurveZMQ secret used as an Ed25519 scalar (XEdDSA)."""

    def __init__(self, keys: KeyPair):
        secret = bytearray(z85.decode(keys.secret.encode("ascii")))
        secret[0] &= 248
        secret[31] &= 127
        secret[31] |= 64
        scalar = int.from_bytes(secret, "little") % _Q
        x, _ = _affine(_base_times(scalar))
        self._scalar = (-scalar) % _Q if x & 1 else scalar
        self._public = _encode(_base_times(self._scalar))
        self.public_hex = self._public.hex()

    def sign(self, message: bytes) -> str:
        a = self._scalar.to_bytes(32, "little")
        nonce = hashlib.sha512(b"\xfe" + b"\xff" * 31 + a + message + os.urandom(64)).digest()
        r = int.from_bytes(nonce, "little") % _Q
        big_r = _encode(_base_times(r))
        h = int.from_bytes(hashlib.sha512(big_r + self._public + message).digest(), "little") % _Q
        return (big_r + ((r + h * self._scalar) % _Q).to_bytes(32, "little")).hex()

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


# ----- the custodian's key ----------------------------------------------------------------------


def custodian_key_path(key_path: str | os.PathLike[str]) -> Path:
    """Where ``smpc custodian keygen`` puts the custodian's private key by default (beside the
    site's key: a local demo's place; a real custodian keeps it on their own account)."""
    key = Path(key_path)
    return key.with_name(key.stem + ".custodian.key")


def custodian_public_path(key_path: str | os.PathLike[str]) -> Path:
    """The custodian's public key, beside the site's key file: what the kernel verifies with."""
    key = Path(key_path)
    return key.with_name(key.stem + ".custodian.pub")


def _hex_key(value: object, path: Path, what: str) -> str:
    if not isinstance(value, str) or len(value) != 64:
        raise PolicyError(f"{path}: {what} must be 64 hexadecimal digits (a file written by `smpc custodian keygen`)")
    try:
        bytes.fromhex(value)
    except ValueError:
        raise PolicyError(f"{path}: {what} is not hexadecimal") from None
    return value.lower()


class CustodianKey:
    """The custodian's own Ed25519 key, from its file (mode 0600); signs approvals."""

    def __init__(self, private: Ed25519PrivateKey):
        self._key = private
        raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.public_hex = raw.hex()

    @classmethod
    def generate(cls) -> CustodianKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CustodianKey:
        path = Path(path)
        if not path.exists():
            raise PolicyError(
                f"no custodian key at {path}: only the custodian signs approvals. The custodian makes the key once "
                "with `smpc custodian keygen SESSION --as SITE` (or names theirs with --custodian-key FILE)"
            )
        try:
            check_private(path, "the custodian key file")
        except SessionFileError as exc:
            raise PolicyError(str(exc)) from None
        try:
            data = tomllib.loads(path.read_text())["custodian"]
            secret = _hex_key(data["secret"], path, "secret")
        except (tomllib.TOMLDecodeError, KeyError, TypeError):
            raise PolicyError(f"{path} is not a custodian key written by `smpc custodian keygen`") from None
        return cls(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret)))

    def write(self, path: str | os.PathLike[str], site: str) -> Path:
        """The private key, readable only by its owner (0600, in a 0700 folder)."""
        path = Path(path)
        private_dir(path.parent)
        raw = self._key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        text = (
            f"# The data custodian's approval key for site {site!r}. Keep it secret and away from the analyst's\n"
            "# kernel: whoever holds it can approve cells for this site.\n"
            f'[custodian]\nsite = "{site}"\npublic = "{self.public_hex}"\nsecret = "{raw.hex()}"\n'
        )
        atomic_write(path, text.encode())
        return path

    def write_public(self, path: str | os.PathLike[str], site: str) -> Path:
        """The public half, for the site's kernel (mode 0644: it is no secret)."""
        path = Path(path)
        text = (
            f"# The public approval key of site {site!r}'s data custodian (`smpc custodian keygen`).\n"
            "# The site's kernel accepts approvals signed by this key only.\n"
            f'[custodian]\nsite = "{site}"\npublic = "{self.public_hex}"\n'
        )
        atomic_write(path, text.encode())
        os.chmod(path, 0o644)
        return path

    def sign(self, message: bytes) -> str:
        return self._key.sign(message).hex()

    def __repr__(self) -> str:
        return f"CustodianKey(public={self.public_hex[:16]}...)"


def load_custodian_public(path: str | os.PathLike[str]) -> str:
    """The custodian's public key (hex) from its .pub file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())["custodian"]
    except (tomllib.TOMLDecodeError, KeyError, TypeError):
        raise PolicyError(f"{path} is not a custodian public key written by `smpc custodian keygen`") from None
    return _hex_key(data.get("public"), path, "public")
