"""CurveZMQ key pairs: one per party and one for the dealer, stored as small TOML files."""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

import zmq
from zmq.utils import z85

from .errors import SessionFileError
from .files import atomic_write, check_private, private_dir


@dataclass(frozen=True)
class KeyPair:
    """A Z85-encoded CurveZMQ key pair. The public half goes into the session file."""

    public: str
    secret: str

    def __repr__(self) -> str:  # never print the secret half
        return f"KeyPair(public={self.public!r})"


def fingerprint(public_key: str) -> str:
    """A short, readable digest of a public key, for sites to compare by telephone."""
    digest = hashlib.sha256(public_key.encode("ascii")).hexdigest()[:20].upper()
    return " ".join(digest[i : i + 4] for i in range(0, 20, 4))


def generate_keypair() -> KeyPair:
    public, secret = zmq.curve_keypair()
    return KeyPair(public.decode("ascii"), secret.decode("ascii"))


def write_keypair(path: str | os.PathLike, keys: KeyPair, name: str) -> Path:
    """Write a key file readable only by its owner (mode 0600, in a 0700 folder); an existing
    file is replaced atomically, so it never keeps a wider mode."""
    path = Path(path)
    private_dir(path.parent)
    text = (
        f"# CurveZMQ key pair of {name!r}. Keep this file secret: whoever holds it can act as {name!r}.\n"
        f'[curve]\npublic = "{keys.public}"\nsecret = "{keys.secret}"\n'
    )
    atomic_write(path, text.encode())
    return path


def is_z85_key(value: str) -> bool:
    """Whether ``value`` is a 40-character Z85 text (a CurveZMQ key as the session file holds it)."""
    if len(value) != 40 or not value.isascii():
        return False
    try:
        z85.decode(value.encode("ascii"))
    except Exception:
        return False
    return True


def _check_z85(value, what: str, path) -> str:
    if not isinstance(value, str) or len(value) != 40:
        raise SessionFileError(f"{path}: {what} must be a 40-character Z85 CurveZMQ key")
    try:
        z85.decode(value.encode("ascii"))
    except Exception:
        raise SessionFileError(f"{path}: {what} is not valid Z85") from None
    return value


def load_keypair(path: str | os.PathLike) -> KeyPair:
    path = Path(path)
    if not path.exists():
        raise SessionFileError(f"key file {path} does not exist; make one with `smpc keygen NAME`")
    check_private(path, "the key file")
    try:
        data = tomllib.loads(path.read_text())
        curve = data["curve"]
        return KeyPair(_check_z85(curve["public"], "public", path), _check_z85(curve["secret"], "secret", path))
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise SessionFileError(f"{path} is not a key file written by `smpc keygen` ({exc})") from None
