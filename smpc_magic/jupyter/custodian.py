"""The approval panel for a custodian's own notebook (not the analyst's): the cells waiting at
this site, each with its code, releases, recipients and the rules that will apply, and buttons
to approve or revoke. ``approval_panel(SESSION, SITE)`` shows it; in a plain terminal (or
without ipywidgets) its text lists the same and ``smpc approve`` does the rest."""

from __future__ import annotations

import html
from pathlib import Path

from ..engine.custodian import Custodian
from ..governance.approvals import CellRequest


def approval_text(custodian: Custodian) -> str:
    pending = custodian.pending()
    lines = [f"cells waiting for the approval of {custodian.site}'s custodian: {len(pending) or 'none'}"]
    lines += [request.describe() for request in pending]
    approved = custodian.approved()
    if approved:
        lines.append("approved (in force): " + ", ".join(r["digest"][:16] for r in approved))
    return "\n\n".join(lines)


class ApprovalPanel:
    """ipywidgets panel: one box per pending cell (approve) and per approval in force (revoke)."""

    def __init__(self, custodian: Custodian, by: str = ""):
        import ipywidgets as widgets

        self.custodian, self.by, self._widgets = custodian, by, widgets
        self.message = widgets.HTML()
        self.body = widgets.VBox()
        refresh = widgets.Button(description="refresh", icon="refresh")
        refresh.on_click(lambda _: self.refresh())
        self.widget = widgets.VBox([widgets.HTML(self._rules_html()), refresh, self.body, self.message])
        self.refresh()

    def _rules_html(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(rule)}</td><td>{html.escape(value)}</td></tr>"
            for rule, value, _ in self.custodian.rules()
        )
        return (
            f"<b>custodian of {html.escape(self.custodian.site)}</b> — this site's rules (the strictest of every "
            f"site's apply)<table>{rows}</table>"
        )

    def refresh(self) -> None:
        w = self._widgets
        boxes = []
        for request in self.custodian.pending():
            approve = w.Button(description="approve", button_style="success")
            approve.on_click(lambda _, r=request: self._approve(r))
            text = f"<pre>{html.escape(request.describe())}</pre>"
            boxes.append(w.VBox([w.HTML(text), approve]))
        for record in self.custodian.approved():
            revoke = w.Button(description="revoke", button_style="danger")
            revoke.on_click(lambda _, d=record["digest"]: self._revoke(d))
            label = CellRequest.from_dict(record["request"]).describe() if "request" in record else record["digest"]
            boxes.append(w.VBox([w.HTML(f"<pre>approved: {html.escape(label)}</pre>"), revoke]))
        if not boxes:
            boxes = [w.HTML("no cell is waiting for approval, and none is approved")]
        self.body.children = boxes

    def _approve(self, request: CellRequest) -> None:
        digest = self.custodian.approve(request, by=self.by)
        self.message.value = f"approved {html.escape(digest[:16])}, signed with this site's custodian key"
        self.refresh()

    def _revoke(self, digest: str) -> None:
        self.custodian.revoke(digest, by=self.by)
        self.message.value = f"revoked {html.escape(digest[:16])}"
        self.refresh()

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude) or {}
        bundle["text/plain"] = approval_text(self.custodian)
        return bundle


def approval_panel(
    session: str | Path, site: str, key: str | Path | None = None, by: str = "", custodian_key: str | Path | None = None
) -> object:
    """The custodian's approval panel for ``site`` (a text listing where widgets are unavailable).
    ``custodian_key``: the custodian's private key file (default ``keys/SITE.custodian.key``),
    read when a button signs."""
    custodian = Custodian(session, site, key, custodian_key)
    try:
        return ApprovalPanel(custodian, by)
    except ImportError:
        return _Text(approval_text(custodian))


class _Text:
    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text
