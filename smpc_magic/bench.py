"""``smpc bench``: seconds, throughput, rounds and bytes per operation with real local parties.

Each party count runs as a local cluster (a dealer process and one process per party over
CurveZMQ on loopback). Material for every timed run is fetched from the dealer first (the
offline phase, timed separately); the online phase is then timed at every party, and a run's
time is the slowest party's.
"""

from __future__ import annotations

import json
import statistics
import time

import numpy as np

from .protocols.channel import Message
from .protocols.context import ProtocolContext
from .runtime import BridgeChannel, BridgeMaterial
from .secure_array import SecretArray
from .sharing.prg import new_seed
from .sharing.ring import encode

FULL_PLAN = (
    [("share", n) for n in (10**4, 10**5, 10**6)]
    + [("mul", n) for n in (10**4, 10**5, 10**6)]
    + [("dot", n) for n in (10**4, 10**5, 10**6)]
    + [("gram", n) for n in (10**4, 10**5)]
    + [("sum", n) for n in (10**4, 10**5, 10**6)]
    + [("mean", n) for n in (10**4, 10**5, 10**6)]
)
FUNCTION_PLAN = [
    ("lt", 10**4),
    ("lt", 10**5),
    ("eq", 10**4),
    ("max", 10**4),
    ("recip", 10**3),
    ("recip", 10**4),
    ("sqrt", 10**4),
    ("exp", 10**4),
    ("log", 10**4),
    ("sigmoid", 10**4),
    ("tanh", 10**4),
    ("softmax", 10**4),
]
FULL_PLAN = FULL_PLAN + FUNCTION_PLAN
QUICK_PLAN = [
    ("share", 10**5),
    ("mul", 10**4),
    ("mul", 10**5),
    ("dot", 10**5),
    ("gram", 10**4),
    ("sum", 10**5),
    ("mean", 10**5),
    ("lt", 10**4),
    ("recip", 10**3),
    ("sigmoid", 10**4),
]
GRAM_COLUMNS = 10

DESCRIPTIONS = {
    "share": "input sharing (seeds + agreement round)",
    "mul": "elementwise secret*secret, fixed point, truncation included",
    "dot": "dot product x @ y of two secret vectors",
    "gram": f"X.T @ X, X of SIZE rows x {GRAM_COLUMNS} columns",
    "sum": "sum of a secret vector (local)",
    "mean": "mean of a secret vector (one division round)",
    "lt": "x < y elementwise (secret 0/1)",
    "eq": "x == y elementwise",
    "max": "max of SIZE values (tree)",
    "recip": "1/x (reciprocal)",
    "sqrt": "square root",
    "exp": "exp(x)",
    "log": "natural log",
    "sigmoid": "sigmoid(x)",
    "tanh": "tanh(x)",
    "softmax": "softmax over rows of 10",
}


_MATERIAL_FROM_WARMUP = {"lt", "eq", "max", "recip", "sqrt", "exp", "log", "sigmoid", "tanh", "softmax"}


def _material_needs(op: str, n: int, frac_bits: int) -> list[tuple[str, tuple, int]]:
    trunc = ("div", (1 << frac_bits,))
    if op == "mul":
        return [("mul", (), n), (*trunc, n)]
    if op == "dot":
        return [("matmul", ((n,), (n,)), 1), (*trunc, 1)]
    if op == "gram":
        return [("gram", ((n, GRAM_COLUMNS),), 1), (*trunc, GRAM_COLUMNS * GRAM_COLUMNS)]
    if op == "mean":
        return [("div", (n,), 1)]
    return []


def _operands(ctx: ProtocolContext, op: str, n: int) -> list[SecretArray]:
    """Valid sharings of public random data (party 0 holds the value): timing is the same."""
    shape = (n, GRAM_COLUMNS) if op == "gram" else (n // 10, 10) if op == "softmax" else (n,)
    count = 2 if op in ("mul", "dot", "lt", "eq") else 1
    out = []
    for k in range(count):
        data = _bench_data(shape) if k == 0 else _bench_data(shape)[::-1].copy()
        if op in ("recip", "sqrt", "log"):
            data = 1.5 + 100 * np.abs(data)  # positive inputs inside the functions' ranges
        enc, scale = encode(data, ctx.frac_bits)
        out.append(SecretArray(ctx, enc if ctx.is_leader else np.zeros_like(enc), scale))
    return out


def _bench_data(shape) -> np.ndarray:
    """Deterministic values in [-10, 10] (benchmark data only; shares and masks use the CSPRNG)."""
    return 10 * np.sin(np.arange(int(np.prod(shape)), dtype=np.float64) * 0.7 + 0.3).reshape(shape)


def _barrier(ctx: ProtocolContext) -> None:
    others = [j for j in range(ctx.n_parties) if j != ctx.party]
    ctx.channel.exchange(ctx.next_step(), "barrier", {j: Message() for j in others}, {j: [] for j in others})


def _share_round(ctx: ProtocolContext, n: int, party) -> None:
    from .party import Party  # the same input-sharing path as a real cell

    others = [j for j in range(ctx.n_parties) if j != ctx.party]
    seeds = {j: new_seed() for j in others}
    received = ctx.channel.exchange(
        ctx.next_step(),
        "bench share",
        {j: Message([np.frombuffer(seeds[j], np.uint8)]) for j in others},
        {j: None for j in others},
    )
    declared = {i: ({"x": {"shape": [n], "scale": ctx.frac_bits}} if i == 0 else {}) for i in range(ctx.n_parties)}
    encoded = {}
    if ctx.is_leader:
        from .party import _Input

        enc, scale = encode(np.linspace(-5, 5, n), ctx.frac_bits)
        encoded = {"x": _Input(enc, scale)}
    Party._share_inputs(party, ctx, encoded, declared, seeds, {j: m.arrays[0].tobytes() for j, m in received.items()})


def _run_op(ctx, op, operands, n, party):
    if op == "share":
        _share_round(ctx, n, party)
    elif op == "mul":
        operands[0] * operands[1]
    elif op == "dot":
        operands[0] @ operands[1]
    elif op == "gram":
        operands[0].T @ operands[0]
    elif op == "sum":
        operands[0].sum()
    elif op == "mean":
        operands[0].mean()
    elif op in ("lt", "eq"):
        operands[0] < operands[1] if op == "lt" else operands[0] == operands[1]
    else:
        from . import lib

        fn = {"max": lib.max, "recip": lib.reciprocal, "sqrt": lib.sqrt, "exp": lib.exp, "log": lib.log}.get(op)
        fn = fn or {"sigmoid": lib.sigmoid, "tanh": lib.tanh, "softmax": lambda v: lib.softmax(v, axis=1)}[op]
        fn(operands[0])


def run_party_bench(party, plan: dict) -> list[dict]:
    """One party's side of the benchmark (runs in a worker process)."""
    material = BridgeMaterial(party.mesh, party.store, party.index)
    channel = BridgeChannel(party.mesh, "bench", material)
    ctx = ProtocolContext(channel, material, party.config.frac_bits)
    rows = []
    for op, n in plan["ops"]:
        repeats = plan["repeats"]
        operands = _operands(ctx, op, n)
        needs = _material_needs(op, n, ctx.frac_bits)
        if op in _MATERIAL_FROM_WARMUP:  # learn what one run draws, from one untimed run
            before = len(material.log)
            _run_op(ctx, op, operands, n, party)
            needs = material.log[before:]
        t0 = time.perf_counter()
        totals: dict[tuple, int] = {}
        for kind, params, count in needs:
            totals[(kind, params)] = totals.get((kind, params), 0) + count
        for (kind, params), count in totals.items():
            flat = kind in ("mul", "div", "and", "cmp", "dabit")
            material.ensure(kind, params, count * repeats if flat else repeats * count)
        offline = time.perf_counter() - t0
        _barrier(ctx)
        times = []
        rounds0, sent0, _ = channel.stats.snapshot()
        wait0 = channel.stats.wait_seconds
        for _ in range(repeats):
            start = time.perf_counter()
            _run_op(ctx, op, operands, n, party)
            times.append(time.perf_counter() - start)
        rounds1, sent1, _ = channel.stats.snapshot()
        _barrier(ctx)
        rows.append(
            {
                "op": op,
                "size": n,
                "times": times,
                "offline_s": offline,
                "rounds": (rounds1 - rounds0) / repeats,
                "bytes_sent": (sent1 - sent0) / repeats,
                "wait_s": (channel.stats.wait_seconds - wait0) / repeats,
            }
        )
    return rows


def _numpy_time(op: str, n: int, repeats: int) -> float:
    x = _bench_data((n, GRAM_COLUMNS) if op == "gram" else (n,))
    y = _bench_data((n,))[::-1].copy()
    fn = {
        "share": lambda: x.copy(),
        "mul": lambda: x * y,
        "dot": lambda: x @ y,
        "gram": lambda: x.T @ x,
        "sum": lambda: x.sum(),
        "mean": lambda: x.mean(),
        "lt": lambda: x < y,
        "eq": lambda: x == y,
        "max": lambda: x.max(),
        "recip": lambda: 1 / (1.5 + np.abs(x)),
        "sqrt": lambda: np.sqrt(np.abs(x)),
        "exp": lambda: np.exp(x),
        "log": lambda: np.log(1.5 + np.abs(x)),
        "sigmoid": lambda: 1 / (1 + np.exp(-x)),
        "tanh": lambda: np.tanh(x),
        "softmax": lambda: np.exp(x.reshape(-1, 10)) / np.exp(x.reshape(-1, 10)).sum(1, keepdims=True),
    }[op]
    best = float("inf")
    for _ in range(max(repeats, 5)):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run_bench(
    party_counts: list[int], plan_ops: list[tuple[str, int]], repeats: int, timeout: float = 300.0
) -> list[dict]:
    from .cluster import LocalCluster
    from .errors import PartyFailed

    rows = []
    for n_parties in party_counts:
        names = [f"site{i + 1}" for i in range(n_parties)]
        with LocalCluster(names, timeout=timeout) as cluster:
            cluster.start_dealer()
            for name in names:
                cluster.start_party(name, {"mode": "bench", "plan": {"ops": plan_ops, "repeats": repeats}})
            cluster.wait(list(cluster.procs), time.monotonic() + timeout)
            results = {}
            for name in names:
                status, _ = cluster.result(name)
                if status is None or not status.get("ok"):
                    raise PartyFailed(
                        name,
                        (status or {}).get("message", "benchmark did not finish"),
                        (status or {}).get("error_type", "Timeout"),
                    )
                results[name] = status["rows"]
        for i, (op, size) in enumerate(plan_ops):
            per_party = [results[name][i] for name in names]
            times = [max(t) for t in zip(*(r["times"] for r in per_party))]
            elements = size * GRAM_COLUMNS if op == "gram" else size
            best = min(times)
            numpy_s = _numpy_time(op, size, repeats)
            rows.append(
                {
                    "operation": op,
                    "description": DESCRIPTIONS[op].replace("SIZE", str(size)),
                    "size": size,
                    "parties": n_parties,
                    "seconds_min": best,
                    "seconds_median": statistics.median(times),
                    "elements_per_second": elements / best if best > 0 else float("inf"),
                    "numpy_seconds": numpy_s,
                    "ratio_to_numpy": best / numpy_s if numpy_s > 0 else float("inf"),
                    "rounds": per_party[0]["rounds"],
                    "mb_sent_per_party": max(r["bytes_sent"] for r in per_party) / 1e6,
                    "offline_seconds": max(r["offline_s"] for r in per_party),
                    "wait_seconds_party0": per_party[0]["wait_s"],
                }
            )
    return rows


def format_table(rows: list[dict]) -> str:
    head = f"{'operation':<8} {'size':>9} {'parties':>7} {'min s':>9} {'median s':>9} {'elem/s':>10} {'x numpy':>9} {'rounds':>6} {'MB/party':>9} {'offline s':>9}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['operation']:<8} {r['size']:>9,} {r['parties']:>7} {r['seconds_min']:>9.4f} {r['seconds_median']:>9.4f} "
            f"{r['elements_per_second']:>10.3g} {r['ratio_to_numpy']:>9.3g} {r['rounds']:>6.0f} {r['mb_sent_per_party']:>9.2f} {r['offline_seconds']:>9.3f}"
        )
    lines.append("")
    lines.append("online times; 'offline s' is fetching all runs' material from the dealer beforehand.")
    lines.append("; ".join(f"{k}: {v}" for k, v in DESCRIPTIONS.items()).replace("SIZE", "size"))
    return "\n".join(lines)


def main(quick: bool = False, json_path: str | None = None, parties: str | None = None) -> int:
    counts = [int(p) for p in parties.replace(",", " ").split()] if parties else ([3] if quick else [2, 3])
    plan = QUICK_PLAN if quick else FULL_PLAN
    repeats = 3 if quick else 5
    started = time.perf_counter()
    rows = run_bench(counts, plan, repeats)
    print(format_table(rows))
    print(f"\nbenchmark took {time.perf_counter() - started:.1f} s")
    if json_path:
        with open(json_path, "w") as handle:
            json.dump(rows, handle, indent=2)
        print(f"wrote {json_path}")
    return 0
