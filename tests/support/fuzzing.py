"""A mutation fuzzer for what peers send: frames (``framing.decode``), rendezvous messages
(``rendezvous.validate``) and dealer requests (``Dealer.handle``). Each input either passes or
raises the error class that target is allowed to raise; anything else is a finding.

Short runs are part of the test suite; the long run is a developer command:

    python -m tests.support.fuzzing --inputs 1000000

It prints the number of inputs per target and every foreign exception (none expected).
The random generator here makes test inputs only; it never makes shares or masks.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from kernel_bridge import framing
from kernel_bridge.errors import FrameError
from smpc_magic.engine import rendezvous
from smpc_magic.errors import InputMismatchError
from smpc_magic.protocols.additive.dealer import Dealer
from smpc_magic.protocols.registry import get_suite

SESSION = "fuzz-session"
SUITE = get_suite("additive")

_ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1 << 31,
    1 << 63,
    1 << 64,
    10**30,
    -(10**30),
    1.5,
    float("nan"),
    float("inf"),
    "",
    "x" * 300,
    "uint64",
    "object",
    "<u8",
    [],
    [1, 2],
    [[[]]],
    {},
    {"a": 1},
    {"shape": [1 << 40], "scale": 16},
]


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if roll < 0.5 or depth > 3:
        return copy.deepcopy(rng.choice(_ODD_VALUES))
    if roll < 0.6:
        return rng.randint(-(1 << 70), 1 << 70)
    if roll < 0.7:
        return "".join(rng.choice("abc/_-\x00é0123456789") for _ in range(rng.randint(0, 12)))
    if roll < 0.85:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(["shape", "scale", "a", "", "x/y"]): _random_value(rng, depth + 1) for _ in range(3)}


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if len(prefix) > 12:
        return out
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def mutate_json(doc: Any, rng: random.Random) -> Any:
    """Replace, delete or deepen values at random places of a JSON document (a copy)."""
    doc = json.loads(json.dumps(doc))
    for _ in range(rng.randint(1, 4)):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            return _random_value(rng)
        path = rng.choice(paths)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = rng.random()
        if action < 0.15 and isinstance(parent, dict):
            del parent[path[-1]]
        elif action < 0.25:
            nested: Any = 1
            for _ in range(rng.choice([10, 100, 300])):
                nested = [nested]
            parent[path[-1]] = nested
        else:
            parent[path[-1]] = _random_value(rng)
    return doc


# ----- targets --------------------------------------------------------------------------------
def _valid_frames() -> list[bytes]:
    header = framing.Header(SESSION, "data", "c", 3, "beaver multiply", {"material": "ab"})
    return [bytes(f) for f in framing.encode(header, [np.arange(4, dtype=np.uint64)])]


_FRAMES = _valid_frames()


def frame_input(rng: random.Random) -> list[bytes]:
    frames = list(_FRAMES)
    if rng.random() < 0.5:
        header = json.loads(frames[0])
        text = json.dumps(mutate_json(header, rng))
        if rng.random() < 0.1:  # a 5,000-digit integer
            text = text.replace("3", "9" * 5000, 1)
        elif rng.random() < 0.1:  # nesting deeper than any JSON library's recursion
            text = text.replace("{}", "[" * 5000 + "1" + "]" * 5000, 1).replace('"ab"', "[" * 5000 + "]" * 5000, 1)
        frames[0] = text.encode()
    else:
        which = rng.randrange(len(frames))
        raw = bytearray(frames[which])
        for _ in range(rng.randint(1, 8)):
            if raw:
                raw[rng.randrange(len(raw))] = rng.randrange(256)
        if rng.random() < 0.2:
            raw = raw[: rng.randrange(len(raw) + 1)]
        frames[which] = bytes(raw)
    if rng.random() < 0.05:
        frames = frames[: rng.randrange(len(frames) + 1)] + [b"\0" * rng.randrange(16)] * rng.randint(0, 2)
    return frames


def decode_target(frames: list[bytes]) -> None:
    framing.decode(frames, SESSION)


_VALID_META: dict[str, Any] = {
    "nonce": "0" * 32,
    "protocol": "additive",
    "cell": "ab" * 32,
    "cell_lines": ["0123456789abcdef", "fedcba9876543210"],
    "reveal": ["total"],
    "to": ["a", "b"],
    "keep_names": [],
    "partial": [],
    "public": "cd" * 32,
    "public_names": ["k"],
    "inputs": {"x": {"shape": [10], "scale": 16}, "df/age": {"shape": [5], "scale": 0}},
    "protocol_state": {"cursors": {"mul": 4096, "div:65536": 10}},
    "frac_bits": 16,
    "kept": [],
    "schema": "",
    "refused": [],
    "input_error": "",
}


def rendezvous_input(rng: random.Random) -> Any:
    return mutate_json(_VALID_META, rng)


def rendezvous_target(meta: Any) -> None:
    if not isinstance(meta, dict):
        return  # decode guarantees a dict
    rendezvous.validate("b", meta, SUITE)


_VALID_REQUEST: dict[str, Any] = {"kind": "matmul", "params": [[4, 3], [3, 2]], "start": 0, "count": 2}


def dealer_input(rng: random.Random) -> tuple[str, Any]:
    kind = rng.choice(["fetch", "fetch", "fetch", "issued", "ping", "other"])
    if kind == "issued":
        return kind, mutate_json({"streams": ["mul", "div:65536"]}, rng)
    request = dict(_VALID_REQUEST, kind=rng.choice(["mul", "div", "matmul", "gram", "bmul", "and", "cmp", "dabit"]))
    return kind, mutate_json(request, rng)


def dealer_target_factory() -> Callable[[tuple[str, Any]], None]:
    state = tempfile.TemporaryDirectory(prefix="smpc-fuzz-dealer-")
    dealer = Dealer(3, state.name)

    def target(request: tuple[str, Any], _state: Any = state) -> None:  # keeps the folder until done
        kind, meta = request
        if isinstance(meta, dict):
            dealer.handle(1, kind, meta)

    return target


#: (name, input maker, target, the exceptions it may raise)
TARGETS: list[tuple[str, Callable[[random.Random], Any], Callable[[], Callable[[Any], None]], tuple]] = [
    ("frames", frame_input, lambda: decode_target, (FrameError,)),
    ("rendezvous", rendezvous_input, lambda: rendezvous_target, (InputMismatchError,)),
    # the dealer service answers a handler's exception with an error reply; these are the ones
    # the handler means to raise (anything else would still be caught, but is a finding here)
    ("dealer", dealer_input, dealer_target_factory, (ValueError,)),
]


def run(inputs: int, seed: int = 0, report: Callable[[str], None] = print) -> dict[str, Counter]:
    """Run ``inputs`` inputs split over the targets; return foreign exceptions per target."""
    rng = random.Random(seed)
    findings: dict[str, Counter] = {}
    per_target = max(1, -(-inputs // len(TARGETS)))  # at least ``inputs`` in all
    for name, make, factory, allowed in TARGETS:
        target = factory()
        found: Counter = Counter()
        started = time.monotonic()
        for _ in range(per_target):
            value = make(rng)
            try:
                target(value)
            except allowed:
                pass
            except Exception as exc:  # noqa: BLE001 - this is what the fuzzer looks for
                found[f"{type(exc).__name__}: {str(exc)[:120]}"] += 1
        findings[name] = found
        report(
            f"{name}: {per_target} inputs in {time.monotonic() - started:.1f} s, {sum(found.values())} foreign exceptions"
        )
        for text, count in found.most_common(10):
            report(f"    {count} x {text}")
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=1_000_000, help="total inputs over all targets")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    findings = run(args.inputs, args.seed)
    total = sum(sum(c.values()) for c in findings.values())
    print(f"fuzzed {-(-args.inputs // len(TARGETS)) * len(TARGETS)} inputs: {total} foreign exceptions")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
