"""The rendezvous: the first round of every computation, where the sites agree before any input
is shared.

Each party sends every peer a JSON message with the sha256 of the cell, the reveal list,
recipients, a digest of the public values, its declared inputs (names, shapes, scales), what its
protocol suite adds (material cursors for the additive suite) and a random nonce. Any
difference aborts at every party naming who differs. The nonces of all parties give the id of
the computation, so nothing of an earlier, failed attempt can be mistaken for this one.

A site could send different messages to different peers (declare 100 rows to one and 120 to
another): each peer alone would see nothing wrong. So a second, small round follows at once,
before anything is checked or shared: every site tells every other the digest of what each site
declared to it (and of what it declared itself), and a site whose declarations differ between
the sites is named at each of them (:func:`confirm_declarations`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from kernel_bridge.mesh import Mesh

from ..errors import InputMismatchError
from ..protocols.base import ProtocolSuite
from .oversight import peer_policy
from .runtime import BridgeChannel

#: The computation id under which the parties meet before they have agreed on one.
LOBBY = "rendezvous"
#: Largest number of elements one declared input may have (a peer cannot make this party
#: allocate more than this).
MAX_INPUT_ELEMENTS = 1 << 32
_INPUT_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(/[^/\x00-\x1f]{1,200})?$")
_NONCE = re.compile(r"^[0-9a-f]{32}$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
#: The label of the round where the sites compare what each declared to each.
CONFIRM_LABEL = "confirm the declarations"

_AGREEMENT = [
    ("protocol", "uses a different protocol"),
    ("cell", "runs a different cell"),
    ("reveal", "reveals different names (--reveal)"),
    ("to", "releases to different parties (--to)"),
    ("public_names", "passes different public names (--public)"),
    ("public", "has different public values (--public)"),
    ("frac_bits", "uses different fixed-point settings"),
    ("schema", "uses a different study schema (or schema version)"),
    ("kept", "holds different kept secrets from earlier cells (--keep; lost when a kernel restarts)"),
    ("keep_names", "keeps different names (--keep)"),
    ("partial", "lets different names come from some sites only (--partial)"),
]


def computation_id(nonces: list[str]) -> str:
    """The id every later message of this computation carries (all parties' nonces, in order)."""
    return hashlib.sha256(":".join(nonces).encode()).hexdigest()[:24]


def agreed_computation(me: int, mine: Mapping[str, Any], received: Mapping[int, Mapping[str, Any]]) -> str:
    """The computation id from every party's nonce as this party received it (a malformed nonce
    is caught when the message is validated; the id only has to be a function of what arrived)."""
    nonces = [mine["nonce"] if i == me else str(received[i].get("nonce"))[:64] for i in range(len(received) + 1)]
    return computation_id(nonces)


def declaration_digest(meta: Mapping[str, Any]) -> str:
    """A digest of everything a rendezvous message declares (not the transport's material tag)."""
    body = {k: v for k, v in meta.items() if k != "material"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(b"smpc-declaration-v1\0" + text.encode("utf-8")).hexdigest()


def _confirmation_id(nonce: str) -> str:
    """Confirmations to a party travel under an id made from its own nonce: a site that sent
    different nonces to different peers cannot keep the others from hearing each other."""
    return f"confirm-{nonce}"


def confirm_declarations(
    channel: BridgeChannel,
    names: list[str],
    me: int,
    mine: Mapping[str, Any],
    received: Mapping[int, Mapping[str, Any]],
) -> None:
    """The round after the rendezvous: tell every peer the digest of what each site declared to
    this one (and of what this one declared), compare, and raise :class:`InputMismatchError`
    naming a site whose declarations differ between the sites. Nothing has been checked or
    shared yet; a peer that stops meanwhile (an abort of ``channel.computation``) ends the wait."""
    mesh = channel.mesh
    seen = [declaration_digest(mine) if i == me else declaration_digest(received[i]) for i in range(len(names))]
    for j, meta in sorted(received.items()):
        nonce = meta.get("nonce")
        if isinstance(nonce, str) and _NONCE.match(nonce):  # else its message is refused when validated
            mesh.send(j, "data", _confirmation_id(nonce), 0, CONFIRM_LABEL, [], {"seen": seen})
    channel.stats.rounds += 1
    own_id = _confirmation_id(str(mine["nonce"]))
    views: dict[int, list[str]] = {me: seen}
    try:
        for j in sorted(received):
            header, arrays = mesh.recv(j, own_id, 0, CONFIRM_LABEL, aborted_by=channel.computation)
            view = header.meta.get("seen")
            if (
                arrays
                or header.label != CONFIRM_LABEL
                or not isinstance(view, list)
                or len(view) != len(names)
                or not all(isinstance(d, str) and _DIGEST.match(d) for d in view)
            ):
                raise InputMismatchError(
                    f"party {names[j]!r} sent a malformed confirmation of the sites' declarations; is it running "
                    "the same smpc_magic version? Nothing was shared."
                )
            views[j] = view
    finally:
        mesh.forget(own_id)
    found = equivocations(views, me, names)
    if found:
        site, detail = next(iter(found.items()))
        others = [n for n in found if n != site]
        raise InputMismatchError(
            f"party {site!r} {detail}; nothing was shared. A site that declares different things to different "
            "sites is not running the agreed cell with smpc_magic as released: check that site's installation."
            + (f" Also: {', '.join(map(repr, others))}." if others else "")
        )


def equivocations(views: Mapping[int, list[str]], me: int, names: list[str]) -> dict[str, str]:
    """Sites whose declarations differ between the sites, as this site (``me``) can tell from
    ``views[j][k]``: the digest of what site k declared to site j (``views[k][k]``: what k says it
    declared). First what this site knows first-hand, then what another site reports."""
    mine = views[me]
    peers = sorted(j for j in views if j != me)
    found: dict[str, str] = {}
    for k in peers:  # what k says it declared is not what it declared to this site
        if views[k][k] != mine[k]:
            found[names[k]] = f"declared to this site ({names[me]!r}) something other than what it says it declared"
    for k in peers:  # another site received something else from k than this site did
        others = [names[j] for j in peers if j != k and views[j][k] != mine[k]]
        if others and names[k] not in found:
            found[names[k]] = (
                f"declared different things to different sites: what it declared to "
                f"{', '.join(map(repr, others))} differs from what it declared to this site ({names[me]!r})"
            )
    for j in peers:  # this site declared the same to every site: a peer that reports otherwise is wrong
        if views[j][me] != mine[me] and names[j] not in found:
            found[names[j]] = f"reports a declaration from this site ({names[me]!r}) that this site did not send"
    return found


def line_digests(code: str) -> list[str]:
    """A short digest of each line of a cell, exactly as the cell's digest sees it (spaces and
    comments included), so that sites running different cells can say where they first differ
    (lines stripped here missed a cell that differs in indentation or trailing spaces only)."""
    lines = code.strip().splitlines()[:MAX_CELL_LINES]
    return [hashlib.sha256(line.encode("utf-8")).hexdigest()[:16] for line in lines]


#: the most lines whose digests a rendezvous message carries
MAX_CELL_LINES = 2000


def check_agreement(
    names: list[str],
    me: int,
    mine: Mapping[str, Any],
    theirs: Mapping[int, Mapping[str, Any]],
    expected_public: Mapping[int, str],
    code: str = "",
) -> None:
    """Raise :class:`InputMismatchError` naming every party that differs from this one.

    ``expected_public[j]`` is this party's public values digested with party j's salt, to
    compare with the digest j sent. For a different cell, the first differing line is named
    (with this site's text of it, from ``code``)."""
    for key, what in _AGREEMENT:
        if key == "public":
            differing = [names[j] for j, meta in sorted(theirs.items()) if meta[key] != expected_public[j]]
        else:
            differing = [names[j] for j, meta in sorted(theirs.items()) if meta[key] != mine[key]]
        if differing:
            who = ", ".join(repr(n) for n in differing)
            where = _first_difference(code, mine, theirs, names, differing[0]) if key == "cell" else ""
            raise InputMismatchError(
                f"party {who} {what} than this party ({names[me]!r}){where}; nothing was shared. "
                "Make every site run the identical cell with identical arguments and public values."
            )


def _first_difference(
    code: str, mine: Mapping[str, Any], theirs: Mapping[int, Mapping[str, Any]], names: list[str], other: str
) -> str:
    ours, their = list(mine.get("cell_lines", [])), list(theirs[names.index(other)].get("cell_lines", []))
    lines = code.strip().splitlines()
    for i in range(max(len(ours), len(their))):
        if i >= len(ours) or i >= len(their) or ours[i] != their[i]:
            if i >= len(ours):
                return f": the cell at {other!r} has more lines (from line {i + 1})"
            text = lines[i].strip() if i < len(lines) else ""
            shown = text if len(text) <= 80 else text[:77] + "..."
            if i >= len(their):
                return f": the cell at {other!r} ends before line {i + 1} (here: `{shown}`)"
            return f": the first line that differs is line {i + 1} (here: `{shown}`; spaces and comments count)"
    return ""


def validate(sender: str, meta: Mapping[str, Any], suite: ProtocolSuite) -> dict[str, Any]:
    """A peer's rendezvous message, checked field by field before any of it is trusted."""

    def bad(what: str) -> InputMismatchError:
        return InputMismatchError(
            f"party {sender!r} sent a malformed agreement message ({what}); is it running the same smpc_magic version?"
        )

    text_fields = ("nonce", "cell", "public", "protocol", "schema", "input_error")
    list_fields = ("reveal", "to", "public_names", "kept", "keep_names", "refused", "partial", "cell_lines")
    for key in text_fields:
        if not isinstance(meta.get(key), str) or len(meta[key]) > 200:
            raise bad(key)
    if not _NONCE.match(meta["nonce"]):
        raise bad("nonce")
    lines = meta.get("cell_lines")
    if (
        not isinstance(lines, list)
        or len(lines) > MAX_CELL_LINES
        or not all(isinstance(v, str) and len(v) == 16 for v in lines)
    ):
        raise bad("cell_lines")
    for key in list_fields:
        value = meta.get(key)
        if not isinstance(value, list) or len(value) > 10_000 or not all(isinstance(v, str) for v in value):
            raise bad(key)
    if not _is_int(meta.get("frac_bits")):
        raise bad("frac_bits")
    inputs = meta.get("inputs")
    if not isinstance(inputs, dict) or len(inputs) > 10_000:
        raise bad("inputs")
    for name, info in inputs.items():
        if not isinstance(name, str) or not _INPUT_KEY.match(name) or not isinstance(info, dict):
            raise bad("inputs")
        shape, scale = info.get("shape"), info.get("scale")
        if not isinstance(shape, list) or len(shape) > 8 or not all(_is_int(v) and 0 <= v < 1 << 40 for v in shape):
            raise bad("input shape")
        size = 1
        for v in shape:
            size *= v
        if size > MAX_INPUT_ELEMENTS:
            raise bad("input larger than the session allows")
        if not isinstance(scale, int) or isinstance(scale, bool) or not 0 <= scale <= 62:
            raise bad("input scale")
        bound = info.get("bound")
        if (
            not isinstance(bound, list)
            or len(bound) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in bound)
            or not -(2.0**63) <= bound[0] <= bound[1] <= 2.0**63
        ):
            raise bad("input range")
        if not isinstance(info.get("streamed", False), bool) or set(info) - {"shape", "scale", "bound", "streamed"}:
            raise bad("input declaration")
    try:
        peer_policy(meta, sender)
    except ValueError as exc:
        raise bad(f"site policy: {exc}") from None
    try:
        state = suite.check_rendezvous_state(meta.get("protocol_state"))
    except ValueError as exc:
        raise bad(f"protocol state: {exc}") from None
    return {**meta, "protocol_state": state}


def withdraw_stale(mesh: Mesh) -> None:
    """Before a new rendezvous: drop what was buffered for earlier computations, and the
    rendezvous messages of attempts their senders have since withdrawn (their nonce)."""
    mesh.prepare_lobby()
    with mesh.buffered() as router:
        for sender, nonce in router.take_withdrawals():
            pending = router.peek(sender, LOBBY, 0)
            if pending is not None and pending[0].meta.get("nonce") == nonce:
                router.discard(sender, LOBBY, 0)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
