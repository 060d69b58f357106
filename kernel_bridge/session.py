"""The session file: who takes part (in order), where they listen, their public keys, the
dealer, the protocol, the fixed-point settings and the timeout."""

from __future__ import annotations

import math
import os
import re
import secrets
import socket
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SessionFileError
from .keys import generate_keypair, is_z85_key, write_keypair

NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
#: A protocol is named by letters, digits and '_'; which ones exist is the engine's business.
PROTOCOL_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
#: How a protocol with checkable shares (Shamir) verifies its openings.
VERIFY_MODES = ("detect", "correct", "off")
#: The CPU time a cell's own evaluation may take at each site, unless the session says otherwise.
DEFAULT_CELL_CPU_SECONDS = 600.0


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
    #: the CPU time (seconds) a cell's own evaluation may take at each site; waiting for peers does not count
    cell_cpu_seconds: float = DEFAULT_CELL_CPU_SECONDS

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


#: Longest a session may set for a wait or a cell's CPU time (a week): a finite, sane bound.
MAX_SECONDS = 7 * 24 * 3600
#: Fixed-point fractional bits a session may use.
FRAC_BITS_RANGE = (1, 30)
_SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.\-]+|\*)$")


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _seconds(info: dict, key: str, default: float, path: Path, fix: str) -> float:
    """A number of seconds from [session]: finite, above 0, at most MAX_SECONDS."""
    value = info.get(key, default)
    if not _number(value):
        raise SessionFileError(
            f"{path}: [session] {key} = {value!r} is not a number of seconds; write a number, "
            f"for example {key} = {float(default):g} ({fix})"
        )
    assert isinstance(value, int | float)
    if not (math.isfinite(value) and 0 < value <= MAX_SECONDS):
        raise SessionFileError(
            f"{path}: [session] {key} = {value!r} must be a finite number of seconds above 0 and at most "
            f"{MAX_SECONDS} (a week); for example {key} = {float(default):g} ({fix})"
        )
    return float(value)


def _endpoint(entry: object, what: str, path: Path) -> Endpoint:
    table = "[dealer]" if what == "dealer" else "[[party]]"
    if not isinstance(entry, dict):
        raise SessionFileError(
            f"{path}: each {table} must be a table with name, address and public_key (found {type(entry).__name__})"
        )
    missing = [k for k in ("name", "address", "public_key") if k not in entry]
    if missing:
        raise SessionFileError(f"{path}: each {what} needs name, address and public_key ({table} lacks {missing[0]})")
    name, address, key = entry["name"], entry["address"], entry["public_key"]
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise SessionFileError(
            f"{path}: {table} name = {name!r}: a {what} name must be a string of letters, digits, '_' or '-' "
            "(at most 64, starting with a letter)"
        )
    if not isinstance(address, str) or not _valid_address(address):
        raise SessionFileError(
            f"{path}: address of {name!r} = {address!r} must look like tcp://HOST:PORT (a port from 1 to 65535) "
            "or ipc://PATH"
        )
    if not isinstance(key, str) or len(key) != 40 or not is_z85_key(key):
        raise SessionFileError(
            f"{path}: public_key of {name!r} must be a 40-character Z85 key (as `smpc keygen` prints it)"
        )
    return Endpoint(name, address, key)


def _valid_address(address: str) -> bool:
    if address.startswith("ipc://"):
        rest = address.removeprefix("ipc://")
        return bool(rest) and rest.isprintable() and '"' not in rest
    if not address.startswith("tcp://"):
        return False
    host, _, port = address.removeprefix("tcp://").rpartition(":")
    return bool(_HOST.match(host)) and port.isascii() and port.isdigit() and 0 < int(port) <= 65535


def _table(data: dict, key: str, path: Path) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise SessionFileError(
            f"{path}: {key} must be a table ([{key}] with its settings below it), not {type(value).__name__}"
        )
    return value


def load_session(path: str | os.PathLike) -> SessionConfig:
    """Read and validate a session file: every malformed value is a :class:`SessionFileError`
    naming the file, the key and the fix."""
    path = Path(path)
    if not path.exists():
        raise SessionFileError(f"session file {path} does not exist; make one with `smpc session new`")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SessionFileError(f"{path} is not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionFileError(f"session file {path} cannot be read: {exc}") from None
    info = _table(data, "session", path)
    entries = data.get("party", [])
    if not isinstance(entries, list):
        raise SessionFileError(
            f"{path}: the parties must be an array of tables, one [[party]] (double brackets) per site"
        )
    parties = tuple(_endpoint(p, "party", path) for p in entries)
    if len(parties) < 2:
        raise SessionFileError(f"{path}: a session needs at least two [[party]] entries")
    names = [p.name for p in parties]
    if len(set(names)) != len(names):
        raise SessionFileError(f"{path}: party names must be distinct")
    keys = [p.public_key for p in parties]
    if "dealer" in data and not isinstance(data["dealer"], dict):
        raise SessionFileError(f"{path}: the dealer must be one [dealer] table (single brackets), not a list")
    dealer = _endpoint(data["dealer"], "dealer", path) if "dealer" in data else None
    if dealer:
        keys.append(dealer.public_key)
    if len(set(keys)) != len(keys):
        raise SessionFileError(f"{path}: every party and the dealer need their own key")
    addresses = [p.address for p in parties] + ([dealer.address] if dealer else [])
    if len(set(addresses)) != len(addresses):
        raise SessionFileError(f"{path}: every party and the dealer need their own address (host and port)")
    protocol = info.get("protocol", "additive")
    if not isinstance(protocol, str) or not PROTOCOL_PATTERN.match(protocol):
        raise SessionFileError(
            f'{path}: [session] protocol = {protocol!r} is not a protocol name; write for example protocol = "additive"'
        )
    low, high = FRAC_BITS_RANGE
    frac_bits = info.get("frac_bits", 16)
    if not isinstance(frac_bits, int) or isinstance(frac_bits, bool) or not low <= frac_bits <= high:
        raise SessionFileError(
            f"{path}: [session] frac_bits = {frac_bits!r}: frac_bits must be a whole number between {low} and "
            f"{high} (fractional bits of fixed point); for example frac_bits = 16"
        )
    timeout = _seconds(info, "timeout", 60.0, path, "how long a peer may stay silent during a computation")
    join_timeout = _seconds(info, "join_timeout", 300.0, path, "how long a site waits for the others to run a cell")
    cell_cpu_seconds = _seconds(
        info, "cell_cpu_seconds", DEFAULT_CELL_CPU_SECONDS, path, "the CPU time a cell's own work may take at a site"
    )
    session_id = info.get("id", "")
    if not isinstance(session_id, str) or not _SESSION_ID.match(session_id):
        raise SessionFileError(
            f"{path}: [session] needs an id: a string of up to 64 letters, digits, '.', '_' or '-' "
            f'(found {session_id!r}); `smpc session new` writes one, for example id = "3f9a0c1d2e4b5a67"'
        )
    schema = info.get("schema")
    if schema is not None and (not isinstance(schema, str) or not schema or "\n" in schema or '"' in schema):
        raise SessionFileError(
            f"{path}: [session] schema = {schema!r} must be the path of the study schema file (TOML), "
            'for example schema = "schema.toml"'
        )
    threshold = info.get("threshold")
    if threshold is not None and (
        not isinstance(threshold, int) or isinstance(threshold, bool) or not 1 <= threshold <= len(parties)
    ):
        raise SessionFileError(
            f"{path}: [session] threshold = {threshold!r}: threshold must be a whole number of sites, at least 1 "
            f"and at most the {len(parties)} parties; leave it out for the protocol's default"
        )
    verify = info.get("verify")
    if verify is not None and (not isinstance(verify, str) or verify not in VERIFY_MODES):
        raise SessionFileError(
            f"{path}: [session] verify = {verify!r}: verify must be one of "
            f"{', '.join(repr(v) for v in VERIFY_MODES)}; leave it out for the protocol's default"
        )
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
        cell_cpu_seconds,
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
        f"cell_cpu_seconds = {float(config.cell_cpu_seconds)}",
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
    cell_cpu_seconds: float = DEFAULT_CELL_CPU_SECONDS,
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
        cell_cpu_seconds=cell_cpu_seconds,
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
    cell_cpu_seconds: float = DEFAULT_CELL_CPU_SECONDS,
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
        cell_cpu_seconds=cell_cpu_seconds,
    )
    path = write_session(config, directory / "session.toml")
    load_session(path)  # every check a site's kernel will make, made now
    return path


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
