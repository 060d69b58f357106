"""The ``smpc`` command line: keys, sessions, the dealer, benchmarks and a demo."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_keygen(args) -> int:
    from kernel_bridge.keys import generate_keypair, write_keypair

    path = Path(args.out or f"{args.name}.key")
    keys = generate_keypair()
    write_keypair(path, keys, args.name)
    print(f"wrote {path} (keep it secret)\npublic key of {args.name}: {keys.public}")
    return 0


def _cmd_session_new(args) -> int:
    from ..engine.sessions import new_local_session

    names = [n for n in args.parties.replace(",", " ").split() if n]
    path = new_local_session(
        names, args.dir, protocol=args.protocol, frac_bits=args.frac_bits, timeout=args.timeout, host=args.host
    )
    print(f"wrote {path} and keys for {', '.join(names)} (and the dealer, if any) in {Path(args.dir) / 'keys'}")
    return 0


def _cmd_dealer(args) -> int:
    from ..engine.dealer import run_dealer

    run_dealer(args.session, key_path=args.key, state_dir=args.state_dir, idle_timeout=args.idle_timeout)
    return 0


def _cmd_bench(args) -> int:
    from .bench import main as bench_main

    return bench_main(quick=args.quick, json_path=args.json, parties=args.parties, protocol=args.protocol)


def _cmd_demo(args) -> int:
    from .demo import main as demo_main

    return demo_main()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smpc", description="Secure multiparty computation for health data research.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("keygen", help="make a CurveZMQ key pair for a party or the dealer")
    p.add_argument("name")
    p.add_argument("--out", help="key file to write (default NAME.key)")
    p.set_defaults(func=_cmd_keygen)

    p = sub.add_parser("session", help="session files")
    ssub = p.add_subparsers(dest="session_command", required=True)
    q = ssub.add_parser("new", help="write DIR/session.toml and DIR/keys/ for a local session")
    q.add_argument("--parties", required=True, help="party names in order, e.g. a,b,c")
    q.add_argument("--dir", required=True)
    q.add_argument("--frac-bits", type=int, default=16)
    q.add_argument("--timeout", type=float, default=60.0)
    q.add_argument("--host", default="127.0.0.1")
    q.add_argument("--protocol", default="additive", help="the protocol suite (default: additive)")
    q.set_defaults(func=_cmd_session_new)

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
    p.add_argument("--protocol", default="additive", help="the protocol suite (default: additive)")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("demo", help="run the salary example and a pooled mean with three local parties")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
