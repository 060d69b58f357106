"""The custodian's commands: ``smpc custodian keygen``, ``smpc policy``, ``smpc approve``,
``smpc revoke`` and ``smpc audit``. A custodian needs the session file and their own custodian
key (``--custodian-key``, by default ``keys/SITE.custodian.key``), never the site's key file;
an auditor needs only the session file."""

from __future__ import annotations

import json
from pathlib import Path


def _custodian(args):
    from ..engine.custodian import Custodian
    from ..errors import PolicyError

    if not args.site:
        raise PolicyError("say which site you are the custodian of: --as SITE")
    return Custodian(args.session, args.site, args.key, getattr(args, "custodian_key", None))


def _cmd_custodian_keygen(args) -> int:
    private, public, retired = _custodian(args).keygen(force=args.force)
    print(f"wrote the custodian's private key {private} (mode 0600): it signs this site's approvals.")
    print("  Keep it on the custodian's own machine or account, never where the analyst's kernel runs;")
    print("  `smpc approve` and `smpc revoke` read it (--custodian-key FILE if it is elsewhere).")
    print(f"wrote its public half {public}: the site's kernel accepts approvals signed by this key only.")
    for path in retired:
        print(f"set aside {path}: signed with the replaced key, its approvals no longer count; approve again")
    return 0


def _key_path(args) -> Path:
    from kernel_bridge.session import load_session

    config = load_session(args.session)
    config.index(args.site)
    return Path(args.key) if args.key else config.default_key_path(args.site)


def _cmd_policy_new(args) -> int:
    from ..errors import PolicyError
    from ..governance.policy import SitePolicy, policy_path, write_policy

    path = Path(args.out) if args.out else policy_path(_key_path(args))
    if path.exists() and not args.force:
        raise PolicyError(f"{path} exists; edit it, or pass --force to replace it with the defaults")
    write_policy(path, SitePolicy(approval=args.require_approval), args.site)
    print(f"wrote {path}: DataSHIELD-style defaults, each setting explained. Edit it to suit this site.")
    return 0


def _cmd_policy_show(args) -> int:
    from ..governance.policy import DEFAULT, load_policy, policy_path, strictest

    path = policy_path(_key_path(args))
    if not path.exists():
        print(f"no policy file at {path}: this site holds the documented defaults (`smpc policy new` writes them")
        print("to a file the custodian can edit):")
        policy = DEFAULT
    else:
        policy = load_policy(path)
        print(f"{path} (digest {policy.digest[:16]})")
    for rule, value, _ in strictest({args.site: policy}).describe():
        print(f"  {rule:<20} {value}")
    return 0


def _cmd_approve(args) -> int:
    custodian = _custodian(args)
    if args.pending or not args.cell:
        pending = custodian.pending()
        if not pending:
            print("no cell requests are waiting for approval at this site")
        for request in pending:
            print(request.describe() + "\n")
        return 0
    values = json.loads(Path(args.public_values).read_text()) if args.public_values else {}
    request = custodian.request(args.cell, values)
    print(request.describe())
    print("\nthis site's rules (the strictest of every site's apply when it runs):")
    for rule, value, _ in custodian.rules():
        print(f"  {rule:<20} {value}")
    question = f"\napprove cell request {request.digest[:16]} for site {args.site!r}? [y/N] "
    if not args.yes and input(question).strip().lower() not in ("y", "yes"):
        print("not approved")
        return 1
    digest = custodian.approve(request, by=args.by or "")
    print(f"approved {digest} (signed with {args.site}'s custodian key; `smpc revoke` withdraws it)")
    return 0


def _cmd_revoke(args) -> int:
    digest = _custodian(args).revoke(args.digest, by=args.by or "")
    print(f"revoked {digest}: that cell no longer runs until it is approved again")
    return 0


# ----- audit ------------------------------------------------------------------------------------


def _cmd_audit_verify(args) -> int:
    from ..governance.audit_chain import verify_chain

    path = Path(args.file)
    try:
        key, source, site = _expected_audit_key(path, args)
    except ValueError as exc:
        print(f"{path}: NOT verified: {exc}")
        return 1
    report = verify_chain(path, key)
    if site and report.records:
        first = json.loads(next(line for line in path.read_text().splitlines() if line.strip()))
        if isinstance(first, dict) and first.get("party") != site:
            report.problems.append(f"the log says it is the log of {first.get('party')!r}, not of {site!r}")
    if report.ok:
        print(f"{path}: intact — {report.records} records, every link, hash and signature checked against {source}")
        return 0
    print(f"{path}: NOT intact ({len(report.problems)} problems; checked against {source}):")
    for problem in report.problems:
        print(f"  - {problem}")
    return 1


def _expected_audit_key(log: Path, args) -> tuple[str, str, str | None]:
    """(key hex, where it came from, the site) from --key/--public-key, else from the site's
    public key in the session file (never from the log itself)."""
    import re

    from kernel_bridge.errors import SessionFileError
    from kernel_bridge.keys import load_keypair
    from kernel_bridge.session import load_session

    from ..governance.signing import SigningKey, audit_public_key

    given = args.public_key or args.key
    if given:
        if re.fullmatch(r"[0-9a-fA-F]{64}", given):
            return given.lower(), "the key given", None
        return SigningKey(load_keypair(given)).public_hex, f"the key file {given}", None
    named = re.fullmatch(r"audit-(.+)\.jsonl", log.name)
    site = args.site or (named.group(1) if named else None)
    session = Path(args.session) if args.session else log.parent / "session.toml"
    if not site:
        raise ValueError("cannot tell whose log this is; say which site with --as SITE")
    if not session.exists():
        raise ValueError(
            f"no session file at {session} to take {site!r}'s public key from; give the session file the sites "
            "agreed on with --session FILE (or the site's audit key with --key HEX)"
        )
    try:
        config = load_session(session)
        public = config.parties[config.index(site)].public_key
    except SessionFileError as exc:
        raise ValueError(str(exc)) from None
    return audit_public_key(public), f"{site}'s public key in the session file {session}", site


def _cmd_audit_key(args) -> int:
    from kernel_bridge.session import load_session

    from ..governance.signing import audit_public_key

    config = load_session(args.session)
    key = audit_public_key(config.parties[config.index(args.site)].public_key)
    print(f"audit key of {args.site}: {key}")
    print(
        "(computed from its public key in the session file; `smpc audit verify FILE --session SESSION` does the "
        "same, `--key KEY` checks against this key directly)"
    )
    return 0


def add_parsers(sub) -> None:
    """``smpc policy``, ``smpc approve``, ``smpc revoke`` and ``smpc audit``."""

    def site_options(q) -> None:
        q.add_argument("session", help="the session file")
        q.add_argument("--as", dest="site", required=True, help="the site whose custodian you are")
        q.add_argument("--key", help="the site's key file (default keys/SITE.key beside the session)")

    def custodian_key_option(q) -> None:
        q.add_argument(
            "--custodian-key",
            help="the custodian's private key file (default keys/SITE.custodian.key beside the site's key)",
        )

    p = sub.add_parser("custodian", help="the data custodian's own approval key")
    ssub = p.add_subparsers(dest="custodian_command", required=True)
    q = ssub.add_parser(
        "keygen",
        help="make the custodian's approval key: the private half (0600) for the custodian, the public half "
        "beside the site's key for its kernel",
    )
    site_options(q)
    q.add_argument("--out", dest="custodian_key", help="write the private key here (default keys/SITE.custodian.key)")
    q.add_argument("--force", action="store_true", help="replace an existing custodian key (approve again after)")
    q.set_defaults(func=_cmd_custodian_keygen)

    p = sub.add_parser("policy", help="a site's disclosure policy (the custodian's file)")
    ssub = p.add_subparsers(dest="policy_command", required=True)
    q = ssub.add_parser("new", help="write the site's policy with documented defaults, beside its key")
    site_options(q)
    q.add_argument("--out", help="write it here instead")
    q.add_argument("--require-approval", action="store_true", help="cells need this custodian's approval")
    q.add_argument("--force", action="store_true", help="replace an existing policy")
    q.set_defaults(func=_cmd_policy_new)
    q = ssub.add_parser("show", help="print the site's policy")
    site_options(q)
    q.set_defaults(func=_cmd_policy_show)

    p = sub.add_parser("approve", help="approve a cell for this site (a cell file, or a pending request's digest)")
    site_options(p)
    p.add_argument("cell", nargs="?", help="a cell file (its %%smpc line, then the code) or a pending digest")
    p.add_argument("--pending", action="store_true", help="list the cells waiting for approval")
    p.add_argument("--public-values", help="a JSON file with the values of the cell's --public names")
    p.add_argument("--by", help="who approves (recorded)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    custodian_key_option(p)
    p.set_defaults(func=_cmd_approve)

    p = sub.add_parser("revoke", help="withdraw an approval")
    site_options(p)
    p.add_argument("digest", help="the approved request's digest (a unique prefix will do)")
    p.add_argument("--by", help="who revokes (recorded)")
    custodian_key_option(p)
    p.set_defaults(func=_cmd_revoke)

    p = sub.add_parser("audit", help="a site's audit log")
    ssub = p.add_subparsers(dest="audit_command", required=True)
    q = ssub.add_parser("verify", help="check the log's hash chain, signatures and head")
    q.add_argument("file", help="the audit log (audit-SITE.jsonl beside the session)")
    q.add_argument(
        "--session",
        help="the session file whose public key of the site the log is checked against (default session.toml "
        "beside the log)",
    )
    q.add_argument("--as", dest="site", help="the site whose log it is (default: from the file name audit-SITE.jsonl)")
    q.add_argument("--key", help="check against this audit key (hex, `smpc audit key`) or the site's key file instead")
    q.add_argument("--public-key", help="the site's audit key in hex (the same as --key HEX)")
    q.set_defaults(func=_cmd_audit_verify)
    q = ssub.add_parser("key", help="print the site's audit key (from its public key in the session file)")
    site_options(q)
    q.set_defaults(func=_cmd_audit_key)
