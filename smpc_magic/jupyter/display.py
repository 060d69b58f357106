"""Rich output for the notebook: the status panel, released results, progress.

Every view has a plain-text form, so it reads well where HTML or widgets cannot render
(a terminal console, a notebook converted to text).
"""

from __future__ import annotations

import html
import threading
import time
from typing import Any

import numpy as np

MAX_ROWS = 20


def meaningful_decimals(frac_bits: int) -> int:
    """Decimals a fixed-point value with ``frac_bits`` fractional bits supports (its last
    place is 2**-frac_bits and rounding may move it by a few of those): 3 at 16 bits."""
    return max(0, int(frac_bits * np.log10(2)) - 1)


def decimals_for_error(error: float) -> int:
    """Decimals whose last place is at least twice the error: 0.004 gives 2 (0.01 > 0.008)."""
    return max(0, int(np.floor(-np.log10(2 * error))))


def honest(value: Any, decimals: int | None) -> Any:
    """``value`` rounded to the decimals its precision supports (None: as it is)."""
    arr = np.asarray(value)
    if decimals is None or arr.dtype.kind != "f":
        return value
    rounded = np.round(arr, decimals)
    return rounded.item() if rounded.ndim == 0 else rounded


def _fmt(value, decimals: int | None = None) -> str:
    if isinstance(value, float | np.floating):
        if decimals is not None:
            return np.format_float_positional(round(float(value), decimals), trim="-")
        return f"{value:.6g}"
    return str(value)


def _array_html(arr: np.ndarray, decimals: int | None = None) -> str:
    arr = np.asarray(arr)
    if arr.ndim == 0:
        return f"<code>{html.escape(_fmt(arr.item(), decimals))}</code>"
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1) if arr.size > 8 else arr.reshape(1, -1)
    if arr.ndim != 2:
        return f"<pre>{html.escape(np.array2string(arr, threshold=50))}</pre>"
    rows = arr[:MAX_ROWS]
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v, decimals))}</td>" for v in row) + "</tr>" for row in rows
    )
    more = (
        f"<tr><td colspan='{arr.shape[1]}'>… {arr.shape[0] - MAX_ROWS} more rows</td></tr>"
        if arr.shape[0] > MAX_ROWS
        else ""
    )
    return f"<table class='smpc-array'>{body}{more}</table>"


def contributions_text(contributors: dict) -> str:
    """Which sites' data went into the result: 'cohort from a, b, c; x from a'."""
    if not contributors:
        return "from no private input"
    return "; ".join(f"{name} from {', '.join(sites)}" for name, sites in sorted(contributors.items()))


class ReleasedResults:
    """The values a cell released to this site, shown as one table (HTML) or text."""

    def __init__(
        self,
        values: dict,
        recipients: list[str],
        me: str,
        contributors: dict | None = None,
        scales: dict[str, int] | None = None,
        errors: dict[str, float] | None = None,
    ):
        self.values, self.recipients, self.me = values, recipients, me
        self.contributors = contributors or {}
        # shown with the digits their fixed-point precision supports; the namespace has them all
        self.decimals = {k: meaningful_decimals(v) for k, v in (scales or {}).items()}
        for name, error in (errors or {}).items():  # digits beyond the carried error mean nothing
            if error > 0 and name in self.decimals:
                self.decimals[name] = min(self.decimals[name], decimals_for_error(error))

    def _repr_html_(self) -> str:
        rows = []
        for name, value in self.values.items():
            if hasattr(value, "to_html"):
                cell = value.to_html(max_rows=MAX_ROWS)
            elif hasattr(value, "_repr_html_"):  # a released statistics result
                cell = value._repr_html_()
            else:
                cell = _array_html(value, self.decimals.get(name))
            shape = "" if hasattr(value, "_repr_html_") or np.ndim(value) == 0 else f" <small>{np.shape(value)}</small>"
            rows.append(
                f"<tr><th style='text-align:left'>{html.escape(name)}{shape}</th><td style='text-align:left'>{cell}</td></tr>"
            )
        to = ", ".join(self.recipients)
        sources = html.escape(contributions_text(self.contributors))
        return (
            "<div class='smpc-results'><b>smpc: released</b> "
            f"<small>(to {html.escape(to)}; {sources})</small><table>{''.join(rows)}</table></div>"
        )

    def __repr__(self) -> str:
        lines = [f"smpc: released to {', '.join(self.recipients)} ({contributions_text(self.contributors)}):"]
        for name, value in self.values.items():
            shown = honest(value, self.decimals.get(name))
            if hasattr(value, "summary") or hasattr(value, "to_string"):
                lines.append(f"  {name} = {value!r}")
            elif np.ndim(shown) == 0:
                lines.append(f"  {name} = {_fmt(shown, self.decimals.get(name))}")
            else:
                lines.append(f"  {name} = {np.array2string(np.asarray(shown), threshold=30)}")
        return "\n".join(lines)


class ReleaseNotice:
    """What a site that receives nothing is shown: which names went to whom."""

    def __init__(self, names: list[str], recipients: list[str], me: str, contributors: dict | None = None):
        self.names, self.recipients, self.me = names, recipients, me
        self.contributors = contributors or {}

    def __repr__(self) -> str:
        return (
            f"smpc: released {', '.join(self.names) or 'nothing'} to {', '.join(self.recipients)} "
            f"({contributions_text(self.contributors)}); this site ({self.me}) receives nothing."
        )

    def _repr_html_(self) -> str:
        return f"<div class='smpc-notice'>{html.escape(repr(self))}</div>"


def stock_text(summary: dict[str, int]) -> str:
    """The preprocessing stock in what it buys, and what running out means."""
    parts = [f"{count:,} {what}" for what, count in summary.items() if count > 0]
    if not parts:
        return (
            "empty: material is fetched from the dealer when a cell needs it (slower; %smpc preprocess fills it ahead)"
        )
    return (
        "enough for about " + " and ".join(parts) + "; beyond that, material is fetched from the dealer on demand "
        "(slower). Divisions, square roots and the statistics use several of each."
    )


def status_text(status: dict) -> str:
    lines = [f"smpc session {status['session']} — this site: {status['me']}"]
    for row in status["peers"]:
        state = "this site" if row["role"] == "this site" else ("connected" if row["connected"] else "NOT connected")
        rtt = "" if row["rtt_ms"] is None else f", round trip {row['rtt_ms']:.1f} ms"
        lines.append(f"  {row['role']:<9} {row['name']:<16} key {row.get('fingerprint', '?')}  {state}{rtt}")
    if "protocol" in status:
        lines.append(f"  protocol: {status['protocol']}")
    if status.get("needs_dealer", True):
        lines.append(f"  preprocessing stock: {stock_text(status.get('stock_summary', {}))}")
    if status["private"]:
        lines.append(f"  private here: {', '.join(status['private'])}")
    if status["kept"]:
        lines.append(f"  kept secrets: {', '.join(status['kept'])}")
    if "policy" in status:
        lines.append("  " + policy_text(status["policy"]).replace("\n", "\n  "))
    return "\n".join(lines)


def _which_rules(policy: dict) -> str:
    if not policy.get("effective"):
        return "of this site"
    if policy.get("from") == "announced":
        return "the sites announce (strictest of all; each cell checks them again)"
    return "in force at the last cell (strictest of all sites)"


def policy_text(policy: dict) -> str:
    """This site's policy file, and the strictest rules of all sites the last cell ran under."""
    if policy.get("path") is None:
        head = (
            "site policy: none here (this site holds the documented defaults; `smpc policy new` writes them to a file)"
        )
    else:
        head = f"site policy: {policy['path']}"
    rows = policy.get("effective") or policy.get("own") or []
    which = _which_rules(policy)
    lines = [head, f"rules {which}:"]
    lines += [f"  {rule:<20} {value:<24} set by {by}" for rule, value, by in rows]
    return "\n".join(lines)


def policy_html(policy: dict) -> str:
    rows = policy.get("effective") or policy.get("own") or []
    which = _which_rules(policy)
    body = "".join(
        f"<tr><td>{html.escape(rule)}</td><td>{html.escape(value)}</td><td>{html.escape(by)}</td></tr>"
        for rule, value, by in rows
    )
    where = html.escape(str(policy.get("path") or "none here: this site holds the documented defaults"))
    return (
        f"<details><summary>disclosure rules {which}</summary><div>site policy: <code>{where}</code></div>"
        f"<table><tr><th>rule</th><th>value</th><th>set by</th></tr>{body}</table></details>"
    )


def status_html(status: dict) -> str:
    rows = []
    for row in status["peers"]:
        if row["role"] == "this site":
            state, color = "this site", "#1565c0"
        else:
            state, color = ("connected", "#2e7d32") if row["connected"] else ("not connected", "#c62828")
        rtt = "" if row["rtt_ms"] is None else f"{row['rtt_ms']:.1f} ms"
        rows.append(
            f"<tr><td>{html.escape(row['role'])}</td><td><b>{html.escape(row['name'])}</b></td>"
            f"<td style='color:{color}'>● {state}</td><td>{rtt}</td>"
            f"<td><code title='key fingerprint: compare with the site by telephone'>"
            f"{html.escape(row.get('fingerprint', ''))}</code></td></tr>"
        )
    kinds = "".join(f"<li>{html.escape(k)}: {v:,}</li>" for k, v in status["stock"].items())
    stock = html.escape(stock_text(status.get("stock_summary", {})))
    if kinds:
        stock += f"<details><summary>material by kind</summary><ul>{kinds}</ul></details>"
    protocol = f"<div>protocol: {html.escape(status['protocol'])}</div>" if "protocol" in status else ""
    stock_part = f"<div>preprocessing stock: {stock}</div>" if status.get("needs_dealer", True) else ""
    extra = ""
    if status["private"]:
        extra += f"<div>private here: <code>{html.escape(', '.join(status['private']))}</code></div>"
    if status["kept"]:
        extra += f"<div>kept secrets: <code>{html.escape(', '.join(status['kept']))}</code></div>"
    if "policy" in status:
        extra += policy_html(status["policy"])
    return (
        f"<div class='smpc-status'><b>smpc session</b> <code>{html.escape(status['session'])}</code> — this site: "
        f"<b>{html.escape(status['me'])}</b><table><tr><th>role</th><th>name</th><th>state</th><th>round trip</th><th>key fingerprint</th></tr>"
        f"{''.join(rows)}</table>{protocol}{stock_part}{extra}</div>"
    )


class StatusPanel:
    """An ipywidgets panel that refreshes itself every few seconds while the site is connected."""

    def __init__(self, site, interval: float = 2.0):
        import ipywidgets as widgets

        self.site = site
        self.widget = widgets.HTML(value=status_html(site.status()))
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._refresh, daemon=True, name="smpc-status")
        self._thread.start()

    def _refresh(self) -> None:
        while not self._stop.wait(self.interval):
            if not self.site.connected:
                return
            try:
                self.widget.value = status_html(self.site.status())
            except Exception:  # noqa: BLE001 - a display refresh must never break the kernel
                return

    def stop(self) -> None:
        self._stop.set()

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude) or {}
        bundle["text/plain"] = status_text(self.site.status())
        return bundle


class CellProgress:
    """One live line under a running cell: who it waits for while the sites join, then the round
    and step really running. A display that updates in place, so a notebook saved as text or a
    console shows the line itself (not a widget's repr)."""

    def __init__(self, delay: float = 1.0):
        self.delay = delay
        self.started = time.monotonic()
        self.handle: Any = None
        self._last = 0.0

    def __call__(self, step: int, label: str) -> None:
        elapsed = time.monotonic() - self.started
        self.show(f"smpc: round {step} ({label}), {elapsed:.1f} s")

    def waiting(self, joined: list[str], awaited: list[str], seconds: float) -> None:
        """While the sites join: who is awaited, who is ready, and how to cancel."""
        ready = f" ({', '.join(joined)} ready)" if joined else ""
        self.show(
            f"smpc: waiting for {', '.join(awaited)} to run this cell{ready}, {seconds:.0f} s — "
            "interrupt the kernel to cancel at every site"
        )

    def show(self, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and (now - self.started < self.delay or now - self._last < 0.2):
            return
        self._last = now
        bundle = {"text/plain": text, "text/html": f"<code>{html.escape(text)}</code>"}
        try:
            from IPython.display import display

            if self.handle is None:
                self.handle = display(bundle, raw=True, display_id=True)
            else:
                self.handle.update(bundle, raw=True)
        except Exception:  # noqa: BLE001 - no display: no progress line
            self.handle = False

    def finish(self, stopped: bool = False) -> None:
        if self.handle:
            what = "stopped after" if stopped else "done in"
            self.show(f"smpc: {what} {time.monotonic() - self.started:.1f} s", force=True)
