"""The custodian's commands: ``smpc policy``, ``smpc approve``, ``smpc revoke`` and
``smpc audit``. A custodian needs only the session file and the site's key file."""

from __future__ import annotations

import json
from pathlib import Path


def _custodian(args):
    from ..engine.custodian import Custodian
    from ..errors import PolicyError

    if not args.site:
        raise PolicyError("say which site you are the custodian of: --as SITE")
    return Custodian(args.session, args.site, args.key)


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
    from ..governance.policy import load_policy, policy_path, strictest

    path = policy_path(_key_path(args))
    if not path.exists():
        print(f"no policy at {path}: this site sets no disclosure rule (`smpc policy new` writes one)")
        return 0
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
    print(f"approved {digest} (signed with {args.site}'s key; `smpc revoke` withdraws it)")
    return 0


def _cmd_revoke(args) -> int:
    digest = _custodian(args).revoke(args.digest, by=args.by or "")
    print(f"revoked {digest}: that cell no longer runs until it is approved again")
    return 0


# ----- audit ------------------------------------------------------------------------------------


def _cmd_audit_verify(args) -> int:
    from ..governance.audit_chain import verify_chain

    path = Path(args.file)
    key = args.public_key or _signing_key_beside(path, args.key)
    report = verify_chain(path, key)
    source = (
        "the key given" if args.public_key or args.key else ("the site's key file" if key else "the key the log names")
    )
    if report.ok:
        print(f"{path}: intact — {report.records} records, every link, hash and signature checked against {source}")
        return 0
    print(f"{path}: NOT intact ({len(report.problems)} problems):")
    for problem in report.problems:
        print(f"  - {problem}")
    return 1


def _signing_key_beside(log: Path, key_file: str | None) -> str | None:
    """The signing key of the site that wrote ``log``: from --key, or keys/PARTY.key beside it."""
    from kernel_bridge.keys import load_keypair

    from ..governance.signing import SigningKey

    if key_file:
        return SigningKey(load_keypair(key_file)).public_hex
    try:
        first = json.loads(log.read_text().splitlines()[0])
        candidate = log.parent / "keys" / f"{first['party']}.key"
    except (OSError, IndexError, KeyError, TypeError, json.JSONDecodeError):
        return None
    return SigningKey(load_keypair(candidate)).public_hex if candidate.exists() else None


def _cmd_audit_key(args) -> int:
    signer = _custodian(args).signer
    print(f"signing key of {args.site}: {signer.public_hex}")
    print("(give it to an auditor: `smpc audit verify FILE --public-key KEY` checks the log without the key file)")
    return 0


def add_parsers(sub) -> None:
    """``smpc policy``, ``smpc approve``, ``smpc revoke`` and ``smpc audit``."""

    def site_options(q) -> None:
        q.add_argument("session", help="the session file")
        q.add_argument("--as", dest="site", required=True, help="the site whose custodian you are")
        q.add_argument("--key", help="the site's key file (default keys/SITE.key beside the session)")

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
    p.set_defaults(func=_cmd_approve)

    p = sub.add_parser("revoke", help="withdraw an approval")
    site_options(p)
    p.add_argument("digest", help="the approved request's digest (a unique prefix will do)")
    p.add_argument("--by", help="who revokes (recorded)")
    p.set_defaults(func=_cmd_revoke)

    p = sub.add_parser("audit", help="a site's audit log")
    ssub = p.add_subparsers(dest="audit_command", required=True)
    q = ssub.add_parser("verify", help="check the log's hash chain, signatures and head")
    q.add_argument("file", help="the audit log (audit-SITE.jsonl beside the session)")
    q.add_argument("--key", help="the site's key file (default keys/SITE.key beside the log)")
    q.add_argument("--public-key", help="the site's signing key in hex (`smpc audit key`), instead of its key file")
    q.set_defaults(func=_cmd_audit_verify)
    q = ssub.add_parser("key", help="print the site's signing key, for auditors")
    site_options(q)
    q.set_defaults(func=_cmd_audit_key)
