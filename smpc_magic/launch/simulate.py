"""``simulate``: run a %%smpc cell with N real local parties, to try an analysis on synthetic data.

Each party is its own OS process with its own CurveZMQ connections, plus a dealer process: the
same engine path the Jupyter magics use, on loopback.
"""

from __future__ import annotations

import secrets
import time
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from kernel_bridge.session import DEFAULT_CELL_CPU_SECONDS

from .. import errors
from ..engine.sandbox import analyse, check_names
from ..engine.sessions import check_protocol_options
from ..errors import CellError, EncodingError, PartyFailed, SmpcError, SmpcWarning
from ..governance.policy import OPEN, SitePolicy, policy_path, write_policy
from ..protocols.registry import get_suite
from ..schema.check import columns_of
from ..secret.frames import COLUMN_SEPARATOR, is_dataframe, split_key
from ..sources.rows import RowSource
from ..stats.results import assemble
from .cluster import LocalCluster
from .netem import NetworkSpec

_PEER_CONSEQUENCES = {"PeerAborted", "PeerDisconnected", "PeerTimeout"}


def _as_arrays(values: Mapping[str, object], owner: str, allow_text: bool = False) -> dict[str, np.ndarray]:
    """Arrays to hand to party processes; a data frame becomes ``name/column`` arrays."""
    out = {}
    for name, value in values.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise CellError(f"{owner}: {name!r} is not a valid variable name")
        if is_dataframe(value):
            for column, arr in columns_of(value).items():
                text = arr.dtype.kind in "OUS"
                if text and not allow_text:
                    raise EncodingError(
                        f"{owner}: column {column!r} of {name!r} is text; declare it in a schema as a categorical "
                        "variable with its levels (schema=), or drop the column"
                    )
                out[f"{name}{COLUMN_SEPARATOR}{column}"] = np.array([str(v) for v in arr]) if text else arr
            continue
        arr = np.asarray(value)
        if allow_text and arr.dtype.kind == "U":
            out[name] = arr
            continue
        if arr.dtype.kind not in "biuf":
            raise EncodingError(f"{owner}: value {name!r} has dtype {arr.dtype}; only numbers and booleans can be used")
        out[name] = arr
    return out


def _parse_names(names: Sequence[str] | str) -> list[str]:
    if isinstance(names, str):
        names = names.replace(",", " ").split()
    return [n.strip() for n in names if n.strip()]


def simulate(
    code: str,
    inputs: Mapping[str, Mapping[str, object]],
    reveal: Sequence[str] | str,
    *,
    public: Mapping[str, object] | None = None,
    protocol: str = "additive",
    timeout: float = 60.0,
    frac_bits: int = 16,
    to: Sequence[str] | None = None,
    schema: str | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    policies: Mapping[str, SitePolicy | Mapping[str, object]] | None = None,
    network: str | None = None,
    threshold: int | None = None,
    verify: str | None = None,
    cell_cpu_seconds: float = DEFAULT_CELL_CPU_SECONDS,
    _record_dir: str | None = None,
) -> dict[str, np.ndarray]:
    """Run ``code`` securely with one process per party (the keys of ``inputs``, in order).

    ``inputs[party][name]`` is that party's private value; a name given by several parties is
    pooled row-wise in party order (a :func:`smpc_magic.rows` source is read in blocks at its
    party: statistics take aggregates of it, its rows are never shared). ``public`` values are plain and equal everywhere. Returns
    ``{name: value}`` for the names in ``reveal``. An error at any party is raised here, naming
    the party. ``schema`` is a study schema file; ``ranges`` declares ``{name: (min, max)}``
    for private arrays or frame columns (added to the schema, or making one): without a
    declared range a value may be anything the encoding holds, and most arithmetic on it is
    refused with OverflowRiskError. ``policies`` gives sites a custodian's policy (a
    :class:`~smpc_magic.governance.policy.SitePolicy` or its settings as a dict): releases are
    checked against the strictest, as in a real session. A party without an entry sets no rule
    here (every party runs on this machine, so the data are already in one place); in a real
    session a site without a policy file holds the documented defaults. ``network`` (``"rtt=40ms,rate=100mbit"``)
    runs the parties across emulated wide-area links, to see how long an analysis would take
    between real sites. ``protocol="shamir"`` runs without a dealer (three or more parties);
    ``threshold`` and ``verify`` are its settings (as in the session file). A false share that
    was corrected is reported with :class:`SmpcWarning`, naming the site. ``cell_cpu_seconds``
    is the CPU time the cell's own work may take at each party (the session setting): a cell
    that takes longer stops at every party with :class:`CellLimitError`.
    """
    # every party runs here, on data already in one place: a site without a policies= entry
    # sets no rule (a real session's site without a policy file holds the defaults)
    site_policies = {p: _policy(p, (policies or {}).get(p, OPEN)) for p in inputs}
    with_schema = schema is not None or bool(ranges)
    codec = get_suite(protocol).codec  # a clear error for a protocol that is not installed
    check_protocol_options(protocol, len(inputs), threshold, verify)
    parties = list(inputs)
    if len(parties) < 2:
        raise SmpcError("simulate needs at least two parties")
    reveal_names = _parse_names(reveal)
    row_sources = {p: {k: v for k, v in inputs[p].items() if isinstance(v, RowSource)} for p in parties}
    private = {
        p: _as_arrays(
            {k: v for k, v in inputs[p].items() if k not in row_sources[p]}, f"party {p!r}", allow_text=with_schema
        )
        for p in parties
    }
    public_arrays = _as_arrays(public or {}, "public", allow_text=True)  # (text: a list of names)
    for p, own in private.items():  # refuse bad inputs before any process starts
        for name, arr in own.items():
            if not with_schema:  # with a schema, each party checks its data against it first
                codec.encode_input(arr, frac_bits, f"private input {name!r} of party {p!r}")
    variables = {split_key(k)[0] for own in private.values() for k in own} | {
        k for r in row_sources.values() for k in r
    }
    check_names(analyse(code), variables, set(public_arrays))
    # the inputs mapping says exactly who provides what: a name some parties leave out is partial
    provided = {p: {split_key(k)[0] for k in private[p]} | set(row_sources[p]) for p in parties}
    partial = sorted(v for v in variables if any(v not in names for names in provided.values()))

    computation = secrets.token_hex(12)
    link = NetworkSpec.parse(network) if network else None
    with LocalCluster(
        parties,
        timeout=timeout,
        frac_bits=frac_bits,
        protocol=protocol,
        schema=schema,
        ranges=ranges,
        network=link,
        threshold=threshold,
        verify=verify,
        cell_cpu_seconds=cell_cpu_seconds,
    ) as cluster:
        cluster.start_dealer()
        for p, policy in site_policies.items():
            write_policy(policy_path(cluster.key_path(p)), policy, p)
        if public_arrays:
            np.savez(cluster.directory / "public.npz", **public_arrays)  # type: ignore[arg-type]
        for p in parties:
            input_path = cluster.directory / f"inputs-{p}.npz"
            np.savez(input_path, **private[p])  # type: ignore[arg-type]
            job = {
                "mode": "cell",
                "code": code,
                "inputs": str(input_path),
                "public": str(cluster.directory / "public.npz") if public_arrays else None,
                "reveal": reveal_names,
                "to": list(to) if to is not None else None,
                "computation": computation,
                "partial": partial,
                "rows": {name: src.spec(cluster.directory, f"{p}-{name}") for name, src in row_sources[p].items()},
                "record_path": f"{_record_dir}/{p}.bin" if _record_dir else None,
            }
            cluster.start_party(p, job)
        finished = cluster.wait(list(cluster.procs), time.monotonic() + 2 * timeout + 30)
        results = {p: cluster.result(p) for p in parties}
        dealer_failure = cluster.dealer_failure()
        if not finished:
            cluster.stop()
            results = {p: cluster.result(p) for p in parties}
        if dealer_failure and any(s is None or not s.get("ok") for s, _ in results.values()):
            raise SmpcError(dealer_failure)
        _raise_first_failure(results, finished, timeout)
        notices = dict.fromkeys(n for p in parties for n in (results[p][0] or {}).get("notices", []))
        for notice in notices:
            warnings.warn(notice, SmpcWarning, stacklevel=2)
        values: dict[str, np.ndarray] | None = None
        for p in parties:
            status, out = results[p]
            if status.get("received"):
                path = out / "values.npz"
                got = {}
                if path.exists():
                    with np.load(path, allow_pickle=False) as data:
                        got = {k: data[k] for k in data.files}
                if values is None:
                    values = got
                elif any(not np.array_equal(values[k], got[k]) for k in values):
                    raise SmpcError("the parties received different results; this is a bug, please report it")
        if values is None:
            return {}
        released = assemble(values)
        return {base: released[base] for base in dict.fromkeys(k.split(".", 1)[0] for k in reveal_names)}


def _policy(party: str, value: SitePolicy | Mapping[str, object]) -> SitePolicy:
    return value if isinstance(value, SitePolicy) else SitePolicy.from_mapping(dict(value), f"policies[{party!r}]")


def _raise_first_failure(results: dict, finished: bool, timeout: float) -> None:
    failures = [(p, s) for p, (s, _) in results.items() if s is None or not s.get("ok")]
    if not failures:
        return
    reported = [(p, s) for p, s in failures if s is not None]
    root = [(p, s) for p, s in reported if s["error_type"] not in _PEER_CONSEQUENCES]
    # a site that stopped because another did names it ("site 'south' could not..."): the named
    # site's own error says why
    named = [(p, s) for p, s in root if not any(f"site {q!r}" in s["message"] for q, _ in root if q != p)]
    root = named or root
    if root or reported:
        party, status = (root or reported)[0]
        cls = getattr(errors, status["error_type"], None)
        message = f"party {party!r}: {status['message']}"
        if isinstance(cls, type) and issubclass(cls, errors.BridgeError | SmpcError) and cls is not PartyFailed:
            try:
                err = cls(message)
            except TypeError:
                err = PartyFailed(party, status["message"], status["error_type"])
        else:
            err = PartyFailed(party, status["message"], status["error_type"])
        err.party = party  # type: ignore[union-attr]
        raise err
    silent = ", ".join(p for p, _ in failures)
    raise PartyFailed(silent, f"did not finish within {2 * timeout + 30:.0f} s and was stopped", "PeerTimeout")
