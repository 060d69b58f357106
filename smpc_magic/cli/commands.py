"""The ``smpc`` command line: keys, sessions, the dealer, benchmarks and a demo."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_keygen(args) -> int:
    from kernel_bridge.keys import fingerprint, generate_keypair, write_keypair

    path = Path(args.out or f"{args.name}.key")
    keys = generate_keypair()
    write_keypair(path, keys, args.name)
    import shlex

    role = "--dealer" if args.name == "dealer" else "--site"
    line = f"{role} {shlex.quote(args.name)} tcp://HOST:PORT {shlex.quote(keys.public)}"
    print(
        f"wrote {path} (mode 0600; keep it secret, it never leaves this site)\n"
        f"public key of {args.name}: {keys.public}\n"
        f"fingerprint: {fingerprint(keys.public)}  (read it to the other sites to check their session file)\n"
        "for the coordinator's `smpc session new` (quoted for the shell; put this site's address for HOST:PORT):\n"
        f"  {line}"
    )
    return 0


def _cmd_session_new(args) -> int:
    if args.site:
        return _assemble(args)
    if not args.parties:
        raise SystemExit(
            "smpc session new: give --site NAME ADDRESS PUBLIC_KEY per site, or --parties for a local demo"
        )
    from ..engine.sessions import new_local_session

    names = [n for n in args.parties.replace(",", " ").split() if n]
    path = new_local_session(
        names,
        args.dir,
        protocol=args.protocol,
        frac_bits=args.frac_bits,
        timeout=args.timeout,
        host=args.host,
        schema=args.schema,
        threshold=args.threshold,
        verify=args.verify,
    )
    written = _default_policies(Path(args.dir) / "keys", names)
    print(
        f"wrote {path} and keys for {', '.join(names)} (and the dealer, if any) in {Path(args.dir) / 'keys'}\n"
        "LOCAL DEMO MODE: that folder holds every site's secret key, so whoever has it can act as any "
        "site. For a real study each site runs `smpc keygen NAME` and you assemble the session with "
        "`smpc session new --site NAME ADDRESS PUBLIC_KEY ...`.\n"
        + (
            f"wrote each site's policy with the documented defaults ({', '.join(str(p) for p in written)}): "
            "each site's data custodian edits its own (`smpc policy show SESSION --as NAME` shows the rules)."
            if written
            else "Each site's data custodian sets its disclosure rules with `smpc policy new SESSION --as NAME`."
        )
    )
    return 0


def _default_policies(keys: Path, names: list[str]) -> list[Path]:
    """Each site's policy file with the documented defaults, beside its key (not over a custodian's)."""
    from ..governance.policy import SitePolicy, policy_path, write_policy

    written = []
    for name in names:
        path = policy_path(keys / f"{name}.key")
        if not path.exists():
            write_policy(path, SitePolicy(), name)
            written.append(path)
    return written


def _assemble(args) -> int:
    """A session file from the sites' public keys: the deployment flow (no secret key moves)."""
    from kernel_bridge.keys import fingerprint
    from kernel_bridge.session import Endpoint, assemble_session

    from ..protocols.registry import get_suite

    sites = [Endpoint(name.strip(), address.strip(), key.strip()) for name, address, key in args.site]
    dealer = Endpoint(*(v.strip() for v in args.dealer)) if args.dealer else None
    if get_suite(args.protocol).needs_dealer and dealer is None:
        raise SystemExit(f"smpc session new: the {args.protocol} protocol needs --dealer NAME ADDRESS PUBLIC_KEY")
    from ..engine.sessions import check_protocol_options

    check_protocol_options(args.protocol, len(sites), args.threshold, args.verify)
    path = assemble_session(
        sites,
        args.dir,
        dealer=dealer,
        protocol=args.protocol,
        frac_bits=args.frac_bits,
        timeout=args.timeout,
        schema=args.schema,
        threshold=args.threshold,
        verify=args.verify,
    )
    print(f"wrote {path}; send it to every site. Each site checks these fingerprints with the others:")
    for endpoint in [*sites, *([dealer] if dealer else [])]:
        print(f"  {endpoint.name:<16} {endpoint.address:<28} {fingerprint(endpoint.public_key)}")
    return 0


def _read_table(path: str):
    """A site's data file (CSV, or parquet with pyarrow) as a pandas DataFrame."""
    try:
        import pandas as pd
    except ImportError:
        raise SystemExit("smpc schema: reading data files needs pandas: pip install 'smpc_magic[pandas]'") from None
    if not Path(path).exists():
        raise SystemExit(f"smpc schema: {path} does not exist")
    if path.endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    return pd.read_csv(path)


def _cmd_schema_draft(args) -> int:
    from ..schema import draft_schema, dump_schema

    schema = draft_schema(_read_table(args.datafile), name=args.name)
    text = dump_schema(schema)
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}: {len(schema.variables)} variables. Edit the ranges and levels with the other sites.")
    else:
        print(text)
    return 0


def _cmd_schema_check(args) -> int:
    from ..schema import check_data, load_schema

    schema = load_schema(args.schema)
    violations = check_data(schema, _read_table(args.datafile), require_all=args.all)
    if not violations:
        print(f"{args.datafile} conforms to {args.schema} ({len(schema.variables)} variables)")
        return 0
    print(f"{args.datafile} breaks {args.schema} in {len(violations)} way(s):")
    for violation in violations:
        print(f"  {violation.local_detail}")
    return 1


def _cmd_dealer(args) -> int:
    from ..engine.dealer import run_dealer
    from ..engine.logs import log_to_folder_from_env

    log_to_folder_from_env("dealer")
    run_dealer(args.session, key_path=args.key, state_dir=args.state_dir, idle_timeout=args.idle_timeout)
    return 0


def _cmd_bench(args) -> int:
    from .bench import main as bench_main

    return bench_main(
        quick=args.quick,
        json_path=args.json,
        parties=args.parties,
        protocol=args.protocol,
        only=args.only,
        network=args.network,
    )


def _cmd_demo(args) -> int:
    from .demo import main as demo_main

    return demo_main(study=args.study, protocol=args.protocol)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smpc", description="Secure multiparty computation for health data research.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("keygen", help="make a CurveZMQ key pair for a party or the dealer")
    p.add_argument("name")
    p.add_argument("--out", help="key file to write (default NAME.key)")
    p.set_defaults(func=_cmd_keygen)

    p = sub.add_parser("session", help="session files")
    ssub = p.add_subparsers(dest="session_command", required=True)
    q = ssub.add_parser(
        "new",
        help="write DIR/session.toml: from sites' public keys (--site), or with every key for a local demo (--parties)",
    )
    q.add_argument(
        "--site",
        nargs=3,
        action="append",
        metavar=("NAME", "ADDRESS", "PUBLIC_KEY"),
        help="a site, in order: its name, tcp://host:port and the public key `smpc keygen` printed",
    )
    q.add_argument(
        "--schema", help="the study schema (TOML) every site checks its data against; copied beside the session"
    )
    q.add_argument("--dealer", nargs=3, metavar=("NAME", "ADDRESS", "PUBLIC_KEY"), help="the dealer, likewise")
    q.add_argument("--parties", help="LOCAL DEMO: party names, e.g. a,b,c; writes every secret key into DIR/keys")
    q.add_argument("--dir", required=True)
    q.add_argument("--frac-bits", type=int, default=16)
    q.add_argument("--timeout", type=float, default=60.0)
    q.add_argument("--host", default="127.0.0.1")
    q.add_argument(
        "--protocol",
        default="additive",
        help="additive (a trusted dealer, 2+ sites) or shamir (no dealer, 3+ sites, checked openings)",
    )
    q.add_argument("--threshold", type=int, help="shamir: how many sites may pool what they see (default: below n/2)")
    q.add_argument(
        "--verify",
        choices=["detect", "correct", "off"],
        help="shamir: what an opening does with a false share (default: detect)",
    )
    q.set_defaults(func=_cmd_session_new)

    p = sub.add_parser("schema", help="study schemas: draft one from local data, check data against one")
    ssub = p.add_subparsers(dest="schema_command", required=True)
    q = ssub.add_parser("draft", help="print (or --out) a first schema drafted from a CSV or parquet file")
    q.add_argument("datafile")
    q.add_argument("--out", help="write the draft to this file")
    q.add_argument("--name", default="study", help="the study's name in the schema")
    q.set_defaults(func=_cmd_schema_draft)
    q = ssub.add_parser("check", help="list the rows and columns of a data file that break a schema (locally)")
    q.add_argument("schema")
    q.add_argument("datafile")
    q.add_argument("--all", action="store_true", help="also report declared variables the file lacks")
    q.set_defaults(func=_cmd_schema_check)

    p = sub.add_parser("dealer", help="run the session's trusted dealer (preprocessing material)")
    p.add_argument("session")
    p.add_argument("--key", help="the dealer's key file (default keys/<dealer>.key beside the session)")
    p.add_argument("--state-dir", help="where the dealer keeps its records (default dealer-state/ beside the session)")
    p.add_argument("--idle-timeout", type=float, default=None, help="stop after this many idle seconds")
    p.set_defaults(func=_cmd_dealer)

    p = sub.add_parser("bench", help="benchmark the protocols with local parties over CurveZMQ")
    p.add_argument("--quick", action="store_true", help="a reduced set that runs in under a minute")
    p.add_argument("--json", help="also write the rows to this JSON file")
    p.add_argument("--parties", default=None, help="party counts to run, e.g. 3 or 2,3")
    p.add_argument(
        "--protocol",
        default="additive",
        help="additive, shamir, or both side by side: additive,shamir (default: additive)",
    )
    p.add_argument("--only", default=None, help="only these operations of the full plan, e.g. ols,logit")
    p.add_argument("--network", default=None, help="emulated links between the parties, e.g. rtt=40ms,rate=100mbit")
    p.set_defaults(func=_cmd_bench)

    from .governance import add_parsers

    add_parsers(sub)

    p = sub.add_parser("demo", help="run a study's site notebooks together, one Jupyter kernel per site")
    p.add_argument(
        "--study",
        default="quickstart",
        choices=["quickstart", "anticoagulant_safety", "breast_cancer", "survival", "governance", "template"],
        help="which study's notebooks (default: quickstart)",
    )
    p.add_argument(
        "--protocol",
        default="additive",
        choices=["additive", "shamir"],
        help="additive (with a dealer) or shamir (no dealer; needs a study with 3+ sites)",
    )
    p.set_defaults(func=_cmd_demo)
    return parser


#: Options followed by three values, one of them a public key: a Z85 key may begin with '-'.
_TRIPLES = ("--site", "--dealer")


def _shield_values(argv: list[str]) -> list[str]:
    """argparse takes a value that begins with '-' for an option; a leading space (stripped by
    the commands) makes it a value. Only the three values after --site and --dealer."""
    out = list(argv)
    for i, token in enumerate(argv):
        if token in _TRIPLES:
            for j in range(i + 1, min(i + 4, len(out))):
                if out[j].startswith("-") and out[j] not in _TRIPLES:
                    out[j] = " " + out[j]
    return out


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(_shield_values(sys.argv[1:] if argv is None else argv))
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one clear line for the analyst, not a traceback
        from kernel_bridge.errors import BridgeError

        from ..errors import SmpcError

        if isinstance(exc, SmpcError | BridgeError):
            print(f"smpc: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
        raise
