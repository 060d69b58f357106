"""Fault injection for tests with real processes: a party that deviates from the protocol.

A local job (written by the test on this machine, never by a peer) may ask its party to change
what it sends in rounds with a given label, or to write down the labels of the rounds it sends
in (so that a test can find, from the code's own behaviour, the round it wants to tamper with).
This checks, end to end, what each protocol does about a site that sends false shares: the
Shamir protocol's checked openings notice (or correct) one and name the site where they can;
the additive protocol has no check (its threat model is honest-but-curious sites). Nothing here
runs in a normal session: the engine only calls a filter a job installed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]
OutgoingFilter = Callable[[int, str, Sequence[Array]], list[Array]]
Change = Callable[[Array], Array]


def _flip_field_elements(elements: int) -> Change:
    """Flip the lowest bit of the first ``elements`` Shamir field elements (uint64 word pairs)."""

    def change(array: Array) -> Array:
        changed = np.array(array, copy=True)
        if changed.dtype == np.uint64 and changed.ndim >= 1 and changed.shape[-1] == 2:
            flat = changed.reshape(-1, 2)
            flat[:elements, 0] ^= np.uint64(1)
        return changed

    return change


def _shift_ring_elements(by: int, elements: int) -> Change:
    """Add ``by`` (mod 2**64) to the first ``elements`` additive shares (uint64 ring elements)."""

    def change(array: Array) -> Array:
        changed = np.array(array, copy=True)
        if changed.dtype == np.uint64 and changed.size:
            flat = changed.reshape(-1)
            with np.errstate(over="ignore"):
                flat[:elements] += np.uint64(by % (1 << 64))
        return changed

    return change


def tampering(
    label: str, change: Change, occurrence: int | None = None, peers: Sequence[int] | None = None
) -> OutgoingFilter:
    """Apply ``change`` to every array sent in rounds labelled ``label`` (only in the
    ``occurrence``-th such round, counting from 0, and only to the parties ``peers``, when given)."""
    seen: dict[int, int] = {}  # per peer: rounds with the label so far (one message per round)

    def tamper(peer: int, round_label: str, arrays: Sequence[Array]) -> list[Array]:
        if round_label != label:
            return list(arrays)
        index = seen.get(peer, 0)
        seen[peer] = index + 1
        if (occurrence is not None and index != occurrence) or (peers is not None and peer not in peers):
            return list(arrays)
        return [change(np.asarray(a)) for a in arrays]

    return tamper


def false_shares(
    label: str, elements: int = 1, occurrence: int | None = None, peers: Sequence[int] | None = None
) -> OutgoingFilter:
    """Flip the lowest bit of the first ``elements`` field elements (uint64 word pairs) of every
    array sent in rounds labelled ``label`` (a share off the polynomial, still in the field
    unless it was p - 1)."""
    return tampering(label, _flip_field_elements(elements), occurrence, peers)


def shifted_shares(
    label: str, by: int, elements: int = 1, occurrence: int | None = None, peers: Sequence[int] | None = None
) -> OutgoingFilter:
    """Add ``by`` to the first ``elements`` additive shares of every array sent in rounds
    labelled ``label``: the value the recipients open moves by ``by`` encoded units, which no one
    notices (the sender's own opening does not move: it uses its true share)."""
    return tampering(label, _shift_ring_elements(by, elements), occurrence, peers)


def round_log(path: str | Path) -> OutgoingFilter:
    """Change nothing; append ``PEER LABEL`` to ``path`` for every message sent."""
    target = Path(path)

    def log(peer: int, round_label: str, arrays: Sequence[Array]) -> list[Array]:
        with target.open("a") as handle:
            handle.write(f"{peer} {round_label}\n")
        return list(arrays)

    return log


def logged_rounds(path: str | Path) -> list[str]:
    """The labels of the rounds a :func:`round_log` recorded, in order (the messages to the first
    peer it sent to; every opening sends to every peer)."""
    lines = [line.split(" ", 1) for line in Path(path).read_text().splitlines() if line]
    if not lines:
        return []
    first = lines[0][0]
    return [label for peer, label in lines if peer == first]


def last_round(path: str | Path) -> tuple[str, int]:
    """The label of the last round a :func:`round_log` recorded and which occurrence of that
    label it was (counting from 0): what a test passes to tamper with exactly that round."""
    labels = logged_rounds(path)
    if not labels:
        raise ValueError(f"no round was logged in {path}")
    return labels[-1], labels.count(labels[-1]) - 1


class DeclarationsPerPeer:
    """Declare different input row counts to different peers in rounds labelled ``label`` (the
    rendezvous, "agree on the cell"): peer j is told every input has j more rows than this party
    really has. Arrays go unchanged; the channel calls :meth:`meta` on what each message declares."""

    def __init__(self, label: str):
        self.label = label

    def __call__(self, peer: int, round_label: str, arrays: Sequence[Array]) -> list[Array]:
        return list(arrays)

    def meta(self, peer: int, round_label: str, meta: dict[str, Any]) -> dict[str, Any]:
        if round_label != self.label or not isinstance(meta.get("inputs"), dict):
            return meta
        inputs = {}
        for name, info in meta["inputs"].items():
            shape = list(info["shape"])
            inputs[name] = {**info, "shape": [shape[0] + peer, *shape[1:]] if shape else shape}
        return {**meta, "inputs": inputs}


def from_job(spec: dict[str, Any] | None) -> OutgoingFilter | None:
    """The filter a job's ``"faults"`` entry asks for: ``{"false_shares": LABEL, "elements": K,
    "occurrence": I, "peers": [J, ...]}`` (Shamir), ``{"shift": LABEL, "by": D, ...}`` (additive;
    the same optional keys) or ``{"log": PATH}``."""
    if not spec:
        return None
    occurrence = None if spec.get("occurrence") is None else int(spec["occurrence"])
    peers = None if spec.get("peers") is None else [int(j) for j in spec["peers"]]
    elements = int(spec.get("elements", 1))
    if "log" in spec:
        return round_log(str(spec["log"]))
    if "equivocate" in spec:  # {"equivocate": LABEL}: different declarations to different peers
        return DeclarationsPerPeer(str(spec["equivocate"]))
    if "shift" in spec:
        return shifted_shares(str(spec["shift"]), int(spec["by"]), elements, occurrence, peers)
    return false_shares(str(spec["false_shares"]), elements, occurrence, peers)
