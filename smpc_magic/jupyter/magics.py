"""The IPython magics: ``%smpc`` (connect, private, status, audit, preprocess, disconnect) and
``%%smpc`` (run a cell as a secure computation). Argument parsing and display only; the work is
done by :class:`smpc_magic.jupyter.site.SiteSession`."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from kernel_bridge.errors import BridgeError

from ..errors import CellInterrupted, SmpcError
from ..stats.results import assemble
from .audit import audit_html, audit_text
from .display import CellProgress, ReleasedResults, ReleaseNotice, StatusPanel, policy_text, status_text, stock_text
from .site import SiteSession, as_user_value

log = logging.getLogger("smpc_magic.jupyter")  # events and public names only, never a value

_SITE: SiteSession | None = None
_PANEL: StatusPanel | None = None


def current_site() -> SiteSession | None:
    """The site session of this kernel (None before ``%smpc connect``)."""
    return _SITE


def _names(values) -> list[str]:
    """Forgiving name lists: ``a,b``, ``a, b`` and ``a b`` are the same."""
    if not values:
        return []
    text = " ".join(values) if isinstance(values, list | tuple) else str(values)
    return [n for n in re.split(r"[,\s]+", text) if n]


def _require_site() -> SiteSession:
    if _SITE is None or not _SITE.connected:
        raise SmpcError("not connected to a session; run `%smpc connect SESSION --as PARTY` first")
    return _SITE


@magics_class
class SmpcMagics(Magics):  # type: ignore[misc]
    @magic_arguments()
    @argument(
        "command",
        choices=["connect", "private", "status", "audit", "policy", "preprocess", "disconnect"],
        help="connect | private | status | audit | policy | preprocess | disconnect",
    )
    @argument("args", nargs="*", help="connect: the session file; private: the names to mark")
    @argument("--as", dest="party", help="connect: this site's party name in the session file")
    @argument("--key", help="connect: this site's key file (default keys/PARTY.key beside the session)")
    @argument("--timeout", type=float, help="connect: seconds to wait for the peers (default: the session's)")
    @argument("--clear", nargs="*", default=None, metavar="NAME", help="private: unmark the names (all if none given)")
    @argument("--range", nargs=2, type=float, metavar=("MIN", "MAX"), help="private: the public range of the values")
    @argument("--ranges-from", dest="ranges_from", metavar="ENV", help="private: ranges from a released envelope")
    @argument("--triples", type=int, default=0, help="preprocess: elementwise multiplication triples")
    @argument("--truncations", type=int, default=0, help="preprocess: truncation masks (one per fixed-point product)")
    @argument("--gram", action="append", default=[], help="preprocess: an X.T @ X triple for X of ROWSxCOLS")
    @argument("--comparisons", type=int, default=0, help="preprocess: material for N comparisons (<, ==, max, ...)")
    @line_magic("smpc")  # type: ignore[arg-type]
    def smpc_line(self, line: str):
        """Secure multiparty computation: join a session and manage this site's side of it.

        %smpc connect SESSION --as PARTY [--key FILE]   join; waits for every peer and the dealer
        %smpc private NAME [NAME ...] [--range MIN MAX | --ranges-from ENV]  mark notebook variables as this site's secret inputs
        %smpc private                                    list them;  %smpc private --clear NAME
        %smpc status                                     peers, round trips, dealer, preprocessing stock
        %smpc preprocess --triples N [--truncations N] [--comparisons N] [--gram ROWSxCOLS]   offline phase
        %smpc audit                                      this site's audit log (a signed hash chain)
        %smpc policy                                     this site's policy and the rules the last cell ran under
        %smpc disconnect
        """
        args = parse_argstring(self.smpc_line, line)
        try:
            return getattr(self, f"_cmd_{args.command}")(args)
        except KeyboardInterrupt:
            raise CellInterrupted(
                f"you interrupted `%smpc {args.command}`{_AFTER_INTERRUPT.get(args.command, '')}"
            ) from None

    def _user_ns(self) -> dict:
        if self.shell is None:
            raise SmpcError("the %smpc magics need an IPython shell")
        return self.shell.user_ns

    # ----- line commands --------------------------------------------------------------------------
    def _cmd_connect(self, args):
        global _SITE, _PANEL
        if not args.args or not args.party:
            raise SmpcError("usage: %smpc connect SESSION --as PARTY [--key FILE]")
        if _SITE is not None:
            self._disconnect()
        site = SiteSession(Path(args.args[0]).expanduser(), args.party, key_path=args.key)
        marks = _MARKS.get((str(site.session_path), site.name))
        if marks is not None:  # a reconnect keeps this site's private marks
            site.private_names, site.ranges = list(marks[0]), dict(marks[1])
        progress = CellProgress()
        dealer = site.config.dealer.name if site.config.dealer else None

        def waiting(absent: list[str], seconds: float) -> None:
            hint = " (start it with `smpc dealer SESSION`)" if dealer in absent else ""
            progress.show(f"smpc: connecting — waiting for {', '.join(absent)}{hint}, {seconds:.0f} s")

        try:
            site.connect(args.timeout, waiting)
        except BaseException:
            progress.finish(stopped=True)
            site.disconnect()  # free this site's port: connecting again must not find it taken
            raise
        progress.finish()
        _SITE = site
        try:
            _PANEL = StatusPanel(site)
            display(_PANEL)
        except ImportError:
            print(status_text(site.status()))

    def _cmd_private(self, args):
        site = _require_site()
        names = _names(args.args + (args.clear or []))  # `--clear a` and `a --clear` alike
        if args.clear is not None:
            site.clear_private(names)
        elif names:
            missing = [n for n in names if n not in self._user_ns()]
            if missing:
                raise SmpcError(f"no variable {missing[0]!r} in this notebook; define it before marking it private")
            envelope = None
            if args.ranges_from is not None:
                if args.ranges_from not in self._user_ns():
                    raise SmpcError(f"no variable {args.ranges_from!r} here: release an envelope first (--reveal)")
                envelope = self._user_ns()[args.ranges_from]
            site.mark_private(names, {n: self._user_ns()[n] for n in names}, args.range, envelope)
        print("private here: " + (", ".join(_with_range(n, site.ranges) for n in site.private_names) or "(none)"))

    def _cmd_status(self, args):
        site = _require_site()
        status = site.status()
        from .display import status_html

        display({"text/plain": status_text(status), "text/html": status_html(status)}, raw=True)

    def _cmd_audit(self, args):
        site = _require_site()
        records = site.audit.records()
        text = audit_text(records, site.audit.path)
        if not records:
            print(text)
            return
        display({"text/plain": text, "text/html": audit_html(records, site.audit.path)}, raw=True)

    def _cmd_policy(self, args):
        site = _require_site()
        print(policy_text(site.status()["policy"]))

    def _cmd_preprocess(self, args):
        site = _require_site()
        if not site.party.suite.needs_dealer:
            print(
                f"preprocess: nothing to do — the {site.party.suite.name} protocol has no dealer; its sites make "
                "their shared randomness themselves during each cell"
            )
            return
        plan, frac_bits = site.party.suite.preprocessing_plan, site.config.frac_bits
        requests = [
            *plan("multiplication", args.triples, frac_bits),
            *plan("truncation", args.truncations, frac_bits),
            *plan("comparison", args.comparisons, frac_bits),
        ]
        for shape in args.gram:
            rows, cols = (int(v) for v in re.split(r"[x×,]", shape))
            requests += plan("gram", 1, frac_bits, rows=rows, cols=cols)
        if not requests:
            raise SmpcError("say what to preprocess, e.g. %smpc preprocess --triples 1000000 --truncations 1000000")
        total = sum(need.count for need in requests)
        line = display({"text/plain": f"preprocess: 0 of {total:,}"}, raw=True, display_id=True)

        def progress(done, total):
            if line is not None:
                line.update(
                    {"text/plain": f"preprocess: {done:,} of {total:,} ({100 * done // max(total, 1)}%)"}, raw=True
                )

        site.preprocess(requests, progress)
        stock = site.party.store.stock()
        print("preprocessing stock: " + stock_text(site.party.suite.stock_summary(stock, site.config.frac_bits)))
        print("  by kind (engine detail): " + ", ".join(f"{k}: {v:,}" for k, v in stock.items()))

    def _cmd_disconnect(self, args):
        self._disconnect()
        print("disconnected")

    def _disconnect(self):
        _leave_session()

    # ----- the cell magic -----------------------------------------------------------------------
    @magic_arguments()
    @argument("--reveal", nargs="*", default=[], help="names to release (a,b or a, b or a b)")
    @argument("--to", nargs="*", default=None, help="parties that receive them (default: all)")
    @argument("--public", nargs="*", default=[], help="plain notebook values (or functions) every site has")
    @argument("--keep", nargs="*", default=[], help="secret values to keep, still shared, for later cells")
    @argument("--timeout", type=float, default=None, help="seconds a peer may stay silent once the cell runs")
    @argument(
        "--join-timeout",
        type=float,
        default=None,
        help="seconds to wait for the other sites to run this cell (default: the session's, 300)",
    )
    @argument(
        "--partial",
        nargs="*",
        default=[],
        help="private names that some sites do not provide (otherwise every site must mark each)",
    )
    @cell_magic("smpc")  # type: ignore[arg-type]
    def smpc_cell(self, line: str, cell: str):
        """Run this cell as a secure computation with the other sites of the session.

        Private names (%smpc private) become secret arrays; --public names are plain and must be
        equal at every site; only the --reveal names are opened, only to the --to parties.
        Every site must run the identical cell with identical arguments.
        """
        args = parse_argstring(self.smpc_cell, line)
        site = _require_site()
        named = _names(args.to)
        to = None if not named or named == ["all"] else named
        progress = CellProgress()
        try:
            outcome = self._run_cell(site, cell, args, to, progress)
        except KeyboardInterrupt:
            progress.finish(stopped=True)
            log.info("%s: the analyst interrupted the cell", site.name)
            raise CellInterrupted(
                "you interrupted this cell: the other sites were told and stopped; nothing more was shared. "
                "Run it again at every site when ready"
            ) from None
        except BaseException:
            progress.finish(stopped=True)
            raise
        progress.finish()
        if outcome.policy_changed:
            print(
                f"smpc: the policy of {', '.join(outcome.policy_changed)} changed since the last cell; "
                "this cell ran under the strictest rules now in force (%smpc policy shows them)"
            )
        for notice in outcome.notices:
            print(f"smpc warning: {notice}")
        if outcome.values is None:
            display(ReleaseNotice(outcome.released, outcome.recipients, site.name, outcome.contributors))
            return
        values = {k: as_user_value(v) for k, v in assemble(outcome.values).items()}
        self._user_ns().update(values)
        if values:
            display(
                ReleasedResults(
                    values, outcome.recipients, site.name, outcome.contributors, outcome.scales, outcome.errors
                )
            )
        elif outcome.kept:
            print(f"smpc: kept {', '.join(outcome.kept)} (still shared) for later cells")

    def _run_cell(self, site: SiteSession, cell: str, args, to, progress: CellProgress):
        return site.run_cell(
            cell,
            self._user_ns(),
            reveal=_names(args.reveal),
            to=to,
            public=_names(args.public),
            keep=_names(args.keep),
            timeout=args.timeout,
            on_round=progress,
            partial=_names(args.partial),
            join_timeout=args.join_timeout,
            on_wait=progress.waiting,
        )


#: what an interrupted line command left, for its one-line message
_AFTER_INTERRUPT = {
    "connect": ": this kernel is not connected (its port is free again); run it again when the other sites start",
    "preprocess": ": the material stored before the interrupt is kept; `%smpc status` shows the stock, and "
    "running it again adds more",
}


def _show_error(shell, etype, value, tb, tb_offset=None):
    """Our errors are written for the analyst: show the message, not the library's internals."""
    shell.showtraceback((etype, value, tb), tb_offset=tb_offset, exception_only=True)


def load(ipython) -> None:
    ipython.register_magics(SmpcMagics)
    ipython.set_custom_exc((SmpcError, BridgeError, CellInterrupted), _show_error)


def _leave_session() -> None:
    """Stop the status panel and disconnect this kernel's site, if any."""
    global _SITE, _PANEL
    if _PANEL is not None:
        _PANEL.stop()
        _PANEL = None
    if _SITE is not None:
        _MARKS[(str(_SITE.session_path), _SITE.name)] = (list(_SITE.private_names), dict(_SITE.ranges))
        _SITE.disconnect()
        _SITE = None


#: Private marks per (session file, site), kept across disconnect and connect in this kernel.
_MARKS: dict[tuple[str, str], tuple[list[str], dict[str, tuple[float, float]]]] = {}


def unload(ipython) -> None:
    _leave_session()
    for kind in ("line", "cell"):
        ipython.magics_manager.magics[kind].pop("smpc", None)
    ipython.set_custom_exc((), None)


def _with_range(name: str, ranges: dict[str, tuple[float, float]]) -> str:
    if name in ranges:
        return f"{name} in [{ranges[name][0]:g}, {ranges[name][1]:g}]"
    columns = [k.split("/", 1)[1] for k in ranges if k.startswith(f"{name}/")]
    return f"{name} (ranges of {', '.join(columns)})" if columns else name
