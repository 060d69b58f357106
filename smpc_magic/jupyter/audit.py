"""The site's audit log as the notebook shows it (``%smpc audit``): one row per record of the
signed hash chain (:mod:`smpc_magic.governance.audit_chain`), newest last."""

from __future__ import annotations

import html
from typing import Any


def record_line(r: dict[str, Any]) -> str:
    """One record as a line of text."""
    cell = str(r.get("cell_sha256", ""))[:12]
    status = r.get("status")
    if r.get("kind") == "genesis":
        return f"#{r.get('seq')}  log started; signing key {str(r.get('signing_key', ''))[:16]}..."
    if r.get("kind") == "approval":
        return f"#{r.get('seq')}  {r.get('time', '')}  custodian {r.get('action', '')}d cell request {str(r.get('digest', ''))[:16]}"
    if status == "ok":
        got = "received" if r.get("received") else "not received"
        checked = len(r.get("rules", []))
        rules = f"; {checked} disclosure checks passed" if checked else ""
        return (
            f"#{r.get('seq')}  {r.get('time', '')}  cell {cell}  released {', '.join(r.get('released', [])) or '-'} "
            f"to {', '.join(r.get('recipients', []))} ({got}){rules}"
        )
    if status == "withheld":
        return f"#{r.get('seq')}  {r.get('time', '')}  cell {cell}  WITHHELD: {r.get('name', '')} failed {r.get('rule', '')}"
    return f"#{r.get('seq')}  {r.get('time', '')}  cell {cell}  FAILED: {r.get('error', '')} at {r.get('step', '')}"


def audit_text(records: list[dict[str, Any]], path: object) -> str:
    if not records:
        return f"no audit records yet ({path})"
    return "\n".join([record_line(r) for r in records] + [f"({path})"])


def audit_html(records: list[dict[str, Any]], path: object) -> str:
    head = "<tr><th>#</th><th>time</th><th>cell</th><th>outcome</th><th>released</th><th>to</th><th>rules checked</th></tr>"
    rows = []
    for r in records:
        if r.get("kind") in ("genesis", "approval"):
            rows.append(
                f"<tr><td>{r.get('seq')}</td><td colspan=6>{html.escape(record_line(r).split('  ', 1)[-1])}</td></tr>"
            )
            continue
        outcome = {"ok": "released", "withheld": f"withheld ({r.get('rule', '')})"}.get(
            str(r.get("status")), f"failed: {r.get('error', '')}"
        )
        rules = ", ".join(sorted({f"{x['rule']}" for x in r.get("rules", [])})) or "-"
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(v))}</td>"
                for v in (
                    r.get("seq"),
                    str(r.get("time", ""))[:19],
                    str(r.get("cell_sha256", ""))[:12],
                    outcome,
                    ", ".join(r.get("released", [])) or "-",
                    ", ".join(r.get("recipients", [])) or "-",
                    rules,
                )
            )
            + "</tr>"
        )
    return (
        f"<table class='smpc-audit'>{head}{''.join(rows)}</table>"
        f"<div>signed hash chain: {html.escape(str(path))} (check it with <code>smpc audit verify</code>)</div>"
    )
