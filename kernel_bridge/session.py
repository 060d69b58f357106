"""The session file: who takes part (in order), where they listen, their public keys, the
dealer, the protocol, the fixed-point settings and the timeout."""

from __future__ import annotations

import os
import re
import secrets
import socket
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SessionFileError
from .keys import generate_keypair, write_keypair

NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
#: A protocol is named by letters, digits and '_'; which ones exist is the engine's business.
PROTOCOL_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
#: How a protocol with checkable shares (Shamir) verifies its openings.
VERIFY_MODES = ("detect", "correct", "off")


@dataclass(frozen=True)
class Endpoint:
    name: str
    address: str
    public_key: str


@dataclass(frozen=True)
class SessionConfig:
    session_id: str
    parties: tuple[Endpoint, ...]
    dealer: Endpoint | None
    protocol: str = "additive"
    frac_bits: int = 16
    timeout: float = 60.0
    path: Path | None = field(default=None, compare=False)
    schema: str | None = None  # the study schema's file, relative to the session file's folder
    #: how long a site waits for the others to run the same cell (they need not press Run together);
    #: ``timeout`` is how long a peer may stay silent once a computation is under way
    join_timeout: float = 300.0
    #: protocol settings (Shamir: the threshold t and how openings are verified); None = default
    threshold: int | None = None
    verify: str | None = None

    @property
    def protocol_options(self) -> dict[str, object]:
        """The settings a protocol reads, without the ones left at their default."""
        return {k: v for k, v in (("threshold", self.threshold), ("verify", self.verify)) if v is not None}

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parties]

    @property
    def n_parties(self) -> int:
        return len(self.parties)

    def index(self, name: str) -> int:
        for i, party in enumerate(self.parties):
            if party.name == name:
                return i
        raise SessionFileError(f"{name!r} is not a party of this session; the parties are {', '.join(self.names)}")

    @property
    def directory(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    @property
    def schema_path(self) -> Path | None:
        return None if self.schema is None else self.directory / self.schema

    def default_key_path(self, name: str) -> Path:
        return self.directory / "keys" / f"{name}.key"


def _endpoint(entry, what: str, path) -> Endpoint:
    try:
        name, address, key = entry["name"], entry["address"], entry["public_key"]
    except (KeyError, TypeError):
        raise SessionFileError(f"{path}: each {what} needs name, address and public_key") from None
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise SessionFileError(f"{path}: {what} name {name!r} must be letters, digits, '_' or '-'")
    if not isinstance(address, str) or not address.startswith(("tcp://", "ipc://")):
        raise SessionFileError(f"{path}: address of {name!r} must look like tcp://HOST:PORT")
    if not isinstance(key, str) or len(key) != 40:
        raise SessionFileError(f"{path}: public_key of {name!r} must be a 40-character Z85 key")
    return Endpoint(name, address, key)


def load_session(path: str | os.PathLike) -> SessionConfig:
    """Read and validate a session file."""
    path = Path(path)
    if not path.exists():
        raise SessionFileError(f"session file {path} does not exist; make one with `smpc session new`")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SessionFileError(f"{path} is not valid TOML: {exc}") from None
    info = data.get("session", {})
    parties = tuple(_endpoint(p, "party", path) for p in data.get("party", []))
    if len(parties) < 2:
        raise SessionFileError(f"{path}: a session needs at least two [[party]] entries")
    names = [p.name for p in parties]
    if len(set(names)) != len(names):
        raise SessionFileError(f"{path}: party names must be distinct")
    keys = [p.public_key for p in parties]
    dealer = _endpoint(data["dealer"], "dealer", path) if "dealer" in data else None
    if dealer:
        keys.append(dealer.public_key)
    if len(set(keys)) != len(keys):
        raise SessionFileError(f"{path}: every party and the dealer need their own key")
    protocol = info.get("protocol", "additive")
    if not isinstance(protocol, str) or not PROTOCOL_PATTERN.match(protocol):
        raise SessionFileError(f'{path}: protocol {protocol!r} is not a protocol name (for example "additive")')
    frac_bits = int(info.get("frac_bits", 16))
    if not 0 < frac_bits <= 30:
        raise SessionFileError(f"{path}: frac_bits must be between 1 and 30")
    timeout = float(info.get("timeout", 60.0))
    if timeout <= 0:
        raise SessionFileError(f"{path}: timeout must be positive (seconds)")
    join_timeout = float(info.get("join_timeout", 300.0))
    if join_timeout <= 0:
        raise SessionFileError(f"{path}: join_timeout must be positive (seconds)")
    session_id = str(info.get("id", ""))
    if not session_id:
        raise SessionFileError(f"{path}: [session] needs an id")
    schema = info.get("schema")
    if schema is not None and (not isinstance(schema, str) or not schema or "\n" in schema or '"' in schema):
        raise SessionFileError(f"{path}: schema must be the path of the study schema file (TOML)")
    threshold = info.get("threshold")
    if threshold is not None and (not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 1):
        raise SessionFileError(f"{path}: threshold must be a whole number of sites, at least 1")
    verify = info.get("verify")
    if verify is not None and verify not in VERIFY_MODES:
        raise SessionFileError(f"{path}: verify must be one of {', '.join(repr(v) for v in VERIFY_MODES)}")
    return SessionConfig(
        session_id,
        parties,
        dealer,
        protocol,
        frac_bits,
        timeout,
        path.resolve(),
        schema,
        join_timeout,
        threshold,
        verify,
    )


def _toml_endpoint(table: str, ep: Endpoint) -> str:
    return f'{table}\nname = "{ep.name}"\naddress = "{ep.address}"\npublic_key = "{ep.public_key}"\n'


def write_session(config: SessionConfig, path: str | os.PathLike) -> Path:
    path = Path(path)
    lines = [
        "# smpc_magic session: every site uses the same file (only the key files differ).",
        "[session]",
        f'id = "{config.session_id}"',
        f'protocol = "{config.protocol}"',
        f"frac_bits = {config.frac_bits}",
        f"timeout = {float(config.timeout)}",
        f"join_timeout = {float(config.join_timeout)}",
        *([f'schema = "{config.schema}"'] if config.schema else []),
        *([f"threshold = {config.threshold}"] if config.threshold is not None else []),
        *([f'verify = "{config.verify}"'] if config.verify is not None else []),
        "",
    ]
    text = "\n".join(lines)
    if config.dealer:
        text += _toml_endpoint("[dealer]", config.dealer) + "\n"
    for party in config.parties:
        text += _toml_endpoint("[[party]]", party) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def free_port(host: str = "127.0.0.1", low: int = 20000, high: int = 32000, exclude: set[int] | None = None) -> int:
    """A TCP port that is free right now on ``host``.

    Chosen below Linux's ephemeral range (32768+), so that the ports other programs get from
    the OS (Jupyter kernels' own channels, outgoing connections) cannot take it before the party
    binds it.
    """
    for _ in range(200):
        port = secrets.randbelow(high - low) + low
        if exclude and port in exclude:  # free now, but already promised to another endpoint
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise SessionFileError(f"no free TCP port between {low} and {high} on {host}")


def assemble_session(
    sites: list[Endpoint],
    directory: str | os.PathLike,
    *,
    dealer: Endpoint | None = None,
    protocol: str = "additive",
    frac_bits: int = 16,
    timeout: float = 60.0,
    schema: str | os.PathLike | None = None,
    threshold: int | None = None,
    verify: str | None = None,
) -> Path:
    """Write ``directory/session.toml`` from the sites' names, addresses and *public* keys
    (each site made its own key pair with ``smpc keygen``; no secret key travels)."""
    if len(sites) < 2:
        raise SessionFileError("a session needs at least two parties")
    if not PROTOCOL_PATTERN.match(protocol):
        raise SessionFileError(f"protocol {protocol!r} is not a protocol name")
    schema_name = _copy_schema(schema, Path(directory))
    config = SessionConfig(
        secrets.token_hex(8),
        tuple(sites),
        dealer,
        protocol,
        frac_bits,
        timeout,
        schema=schema_name,
        threshold=threshold,
        verify=verify,
    )
    path = write_session(config, Path(directory) / "session.toml")
    load_session(path)  # every check a site's kernel will make, made now
    return path


def new_session(
    names: list[str],
    directory: str | os.PathLike,
    *,
    protocol: str = "additive",
    frac_bits: int = 16,
    timeout: float = 60.0,
    host: str = "127.0.0.1",
    dealer_name: str = "dealer",
    with_dealer: bool = True,
    schema: str | os.PathLike | None = None,
    threshold: int | None = None,
    verify: str | None = None,
) -> Path:
    """Write ``directory/session.toml`` and ``directory/keys/<name>.key`` for a local session
    (and the dealer's, ``with_dealer``: whether the protocol needs one is the caller's knowledge)."""
    directory = Path(directory)
    if len(names) < 2:
        raise SessionFileError("a session needs at least two parties")
    for name in [*names, dealer_name]:
        if not NAME_PATTERN.match(name):
            raise SessionFileError(f"party name {name!r} must be letters, digits, '_' or '-'")
    if len(set(names)) != len(names) or dealer_name in names:
        raise SessionFileError("party names must be distinct and differ from the dealer's")
    endpoints = []
    taken: set[int] = set()  # a free port is free until someone binds it: never hand it out twice

    def address() -> str:
        port = free_port(host, exclude=taken)
        taken.add(port)
        return f"tcp://{host}:{port}"

    for name in names:
        keys = generate_keypair()
        write_keypair(directory / "keys" / f"{name}.key", keys, name)
        endpoints.append(Endpoint(name, address(), keys.public))
    if not PROTOCOL_PATTERN.match(protocol):
        raise SessionFileError(f"protocol {protocol!r} is not a protocol name")
    dealer = None
    if with_dealer:
        keys = generate_keypair()
        write_keypair(directory / "keys" / f"{dealer_name}.key", keys, dealer_name)
        dealer = Endpoint(dealer_name, address(), keys.public)
    schema_name = _copy_schema(schema, directory)
    config = SessionConfig(
        secrets.token_hex(8),
        tuple(endpoints),
        dealer,
        protocol,
        frac_bits,
        timeout,
        schema=schema_name,
        threshold=threshold,
        verify=verify,
    )
    return write_session(config, directory / "session.toml")


def _copy_schema(schema: str | os.PathLike | None, directory: Path) -> str | None:
    """Put the study schema beside the session file (sites receive both); its file name."""
    if schema is None:
        return None
    source = Path(schema)
    if not source.exists():
        raise SessionFileError(f"schema file {source} does not exist")
    target = directory / "schema.toml"
    if source.resolve() != target.resolve():
        directory.mkdir(parents=True, exist_ok=True)
        target.write_text(source.read_text())
    return target.name
