"""One party's side of ``smpc bench`` (runs in a worker process): operands, the timed runs,
rounds, bytes and time spent waiting on peers. The table is made by :mod:`smpc_magic.cli.bench`."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from .. import stats
from ..engine import inputs
from ..engine.party import Party
from ..protocols.base import MaterialNeed
from ..protocols.channel import Message
from ..protocols.context import ProtocolContext
from ..secret import lib
from ..secret.array import SecretArray
from ..secret.bounds import Bound
from ..secret.provenance import Provenance

GRAM_COLUMNS = 10
LOGIT_ITERATIONS = 20
COX_COLUMNS = 5
#: coxph_grid's cut points: 30-day intervals over the 1,000 days of follow-up
COX_GRID = list(range(30, 1000, 30))


def bench_data(shape: tuple[int, ...]) -> np.ndarray:
    """Deterministic values in [-10, 10] (benchmark data only; shares and masks use the CSPRNG)."""
    return 10 * np.sin(np.arange(int(np.prod(shape)), dtype=np.float64) * 0.7 + 0.3).reshape(shape)


def _material_needs(ctx: ProtocolContext, op: str, n: int) -> list[MaterialNeed]:
    plan, f = ctx.suite.preprocessing_plan, ctx.frac_bits
    if op == "mul":
        return [*plan("multiplication", n, f), *plan("truncation", n, f)]
    if op == "gram":
        return [*plan("gram", 1, f, rows=n, cols=GRAM_COLUMNS), *plan("truncation", GRAM_COLUMNS**2, f)]
    return []


def regression_data(op: str, n: int, first_row: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """X (n x 10, in [-10, 10]) and an outcome: linear with noise (ols) or 0/1 (logit); rows
    ``first_row`` to ``first_row + n`` of one deterministic sequence."""
    rows = np.arange(first_row, first_row + n, dtype=np.float64)[:, None]
    frequencies = np.sqrt(np.array([2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37][:GRAM_COLUMNS], dtype=np.float64))
    x = 10 * np.sin(rows * frequencies + np.arange(GRAM_COLUMNS))  # uncorrelated columns, deterministic
    weights = np.linspace(-0.3, 0.3, GRAM_COLUMNS)
    wiggle = 3 * np.sin(rows[:, 0] * 1.3)  # deterministic "noise"
    if op == "ols":
        return x, np.clip(x @ weights + wiggle, -30, 30)
    return x, (x @ weights + wiggle > 0).astype(np.int64)


def survival_data(op: str, n: int) -> tuple[np.ndarray, ...]:
    """Deterministic cohorts: for ``poisson``, X (n x 10), 0/1 events and person-time in years;
    for ``coxph``, X (n x 5), whole-number follow-up days (1 to 1000) and 0/1 events."""
    x, _ = regression_data("logit", n)
    rows = np.arange(n, dtype=np.float64)
    u = 0.5 + 0.499 * np.sin(rows * 2.1 + 0.4)  # deterministic "uniform" in (0, 1)
    if op == "poisson":
        years = np.round(0.5 + 4.5 * np.sin(rows * 0.37) ** 2, 2)
        mu = years * np.exp(-3.0 + x @ np.linspace(-0.03, 0.03, GRAM_COLUMNS))
        return x, (u < 1 - np.exp(-mu)).astype(np.int64), years
    x = x[:, :COX_COLUMNS]
    hazard = 0.002 * np.exp(x @ np.linspace(-0.05, 0.05, COX_COLUMNS))
    days = np.clip(np.ceil(-np.log(u) / hazard), 1, 1000)
    event = ((days < 1000) & (np.sin(rows * 0.9) < 0.4)).astype(np.int64)  # some censored early
    return x, days, event


def _secret(ctx: ProtocolContext, data: np.ndarray, lo: float, hi: float, name: str = "") -> SecretArray:
    encoded, scale = ctx.suite.codec.encode_input(data, ctx.frac_bits, "benchmark data")
    secret = SecretArray(ctx, ctx.suite.constant(ctx, encoded), scale, Bound.of(lo, hi, data.ndim))
    if name:  # the rows of one site's input, as a cell's private input would be
        secret._prov = Provenance.rows(np.zeros(len(data), dtype=np.int64), data.ndim, tag=name, shape=data.shape)
    return secret


def _operands(ctx: ProtocolContext, op: str, n: int) -> list[SecretArray]:
    """Valid sharings of public data (a public constant as a secret): timing is the same."""
    if op in ("ols", "logit"):
        x, y = regression_data(op, n)
        return [_secret(ctx, x, -10, 10), _secret(ctx, y, -30, 30) if op == "ols" else _secret(ctx, y, 0, 1)]
    if op == "poisson":
        x, events, years = survival_data(op, n)
        return [_secret(ctx, x, -10, 10, "x"), _secret(ctx, events, 0, 1, "y"), _secret(ctx, years, 0.5, 5, "t")]
    if op in ("coxph", "coxph_grid"):
        x, days, event = survival_data("coxph", n)
        return [_secret(ctx, x, -10, 10, "x"), _secret(ctx, days, 1, 1000, "t"), _secret(ctx, event, 0, 1, "e")]
    shape = (n, GRAM_COLUMNS) if op == "gram" else (n // 10, 10) if op == "softmax" else (n,)
    count = 2 if op in ("mul", "dot", "lt", "eq") else 1
    out = []
    for k in range(count):
        data = bench_data(shape) if k == 0 else bench_data(shape)[::-1].copy()
        if op in ("recip", "sqrt", "log"):
            data = 1.5 + 100 * np.abs(data)  # positive inputs inside the functions' ranges
        encoded, scale = ctx.suite.codec.encode_input(data, ctx.frac_bits, "benchmark data")
        # the data's declared range, as a study schema would give it
        bound = Bound.of(math.floor(float(data.min())), math.ceil(float(data.max())), data.ndim)
        out.append(SecretArray(ctx, ctx.suite.constant(ctx, encoded), scale, bound))
    return out


def _barrier(ctx: ProtocolContext) -> None:
    others = [j for j in range(ctx.n_parties) if j != ctx.party]
    ctx.channel.exchange(ctx.next_step(), "barrier", {j: Message() for j in others}, {j: [] for j in others})


def _share_round(ctx: ProtocolContext, n: int, names: list[str]) -> None:
    """Input sharing as a real cell does it: one exchange, then every party's share."""
    sharing = ctx.suite.input_sharing(ctx)
    outgoing = {j: Message(arrays) for j, arrays in sharing.outgoing().items()}
    received = ctx.channel.exchange(ctx.next_step(), "bench share", outgoing, {j: sharing.expected() for j in outgoing})
    sharing.receive({j: m.arrays for j, m in received.items()})
    spec = {"shape": [n], "scale": ctx.frac_bits, "bound": [-5.0, 5.0]}
    declared = {i: ({"x": spec} if i == 0 else {}) for i in range(ctx.n_parties)}
    encoded = {}
    if ctx.is_leader:
        encoded = inputs.encode_private({"x": np.linspace(-5, 5, n)}, ctx.suite.codec, ctx.frac_bits, names[0])
    inputs.share_inputs(ctx, sharing, encoded, declared, names)


def _run_op(ctx: ProtocolContext, op: str, operands: list[SecretArray], n: int, names: list[str]) -> None:
    if op == "round":
        _barrier(ctx)  # an empty all-to-all exchange: the floor every round of the others pays
    elif op == "share":
        _share_round(ctx, n, names)
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
    elif op == "lt":
        _ = operands[0] < operands[1]
    elif op == "eq":
        _ = operands[0] == operands[1]
    elif op == "ols":
        stats.ols(operands[0], operands[1])
    elif op == "logit":
        stats.logit(operands[0], operands[1], iterations=LOGIT_ITERATIONS)
    elif op == "poisson":
        stats.poisson(operands[0], operands[1], operands[2])
    elif op == "coxph":
        stats.coxph(operands[0], operands[1], operands[2])
    elif op == "coxph_grid":
        stats.coxph(operands[0], operands[1], operands[2], grid=COX_GRID, ties="breslow")
    else:
        functions: dict[str, Any] = {
            "max": lib.max,
            "recip": lib.reciprocal,
            "sqrt": lib.sqrt,
            "exp": lib.exp,
            "log": lib.log,
            "sigmoid": lib.sigmoid,
            "tanh": lib.tanh,
            "softmax": lambda v: lib.softmax(v, axis=1),
        }
        functions[op](operands[0])


def peak_memory_mb() -> float:
    """This process's peak resident memory (MB), from the operating system: Linux's VmHWM (the
    peak of this program's memory since it started; ru_maxrss would also count the memory of the
    process that started it, which survives fork and exec)."""
    import resource
    import sys

    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 1024 / 1024  # KB on Linux, bytes on macOS


#: Operations that run as a whole %%smpc cell over rows each site reads in blocks.
ROWS_OPS = ("ols_rows",)
ROWS_CELL = "fit = smpc.stats.ols(d[{covariates!r}], d['y'])"


def write_site_rows(path: str, first_row: int, count: int, block: int = 1 << 20) -> list[str]:
    """This site's rows of the regression data (rows ``first_row`` onwards of the pooled data)
    as an .npy file, written block by block so that memory stays one block; the column names."""
    columns = [f"x{j + 1}" for j in range(GRAM_COLUMNS)] + ["y"]
    with open(path, "wb") as handle:
        header = {"descr": "<f8", "fortran_order": False, "shape": (count, len(columns))}
        np.lib.format.write_array_header_2_0(handle, header)
        for start in range(0, count, block):
            stop = min(start + block, count)
            x, y = regression_data("ols", stop - start, first_row + start)
            handle.write(np.ascontiguousarray(np.column_stack([x, y])).tobytes())
    return columns


def _rows_op(party: Party, op: str, n: int, repeats: int) -> dict[str, Any]:
    """A whole cell over rows read in blocks: each site writes its share of the ``n`` pooled rows
    to a file (untimed), then the parties run the cell; time, rounds and bytes of the cell."""
    import shutil
    import tempfile

    from ..sources.rows import rows

    names = party.config.names
    index = names.index(party.name)
    per_site = [n // len(names) + (1 if i < n % len(names) else 0) for i in range(len(names))]
    directory = tempfile.mkdtemp(prefix="smpc-bench-rows-")
    try:
        t0 = time.perf_counter()
        path = f"{directory}/{party.name}.npy"
        columns = write_site_rows(path, sum(per_site[:index]), per_site[index])
        prepare = time.perf_counter() - t0
        ranges = {c: (-10.0, 10.0) for c in columns[:-1]} | {"y": (-30.0, 30.0)}
        code = ROWS_CELL.format(covariates=columns[:-1])
        times, outcome = [], None
        for _ in range(repeats):
            start = time.perf_counter()
            outcome = party.run(code, {"d": rows(path, columns, ranges=ranges)}, reveal_names=["fit"])
            times.append(time.perf_counter() - start)
        assert outcome is not None
        return {
            "op": op,
            "size": n,
            "times": times,
            "offline_s": prepare,
            "rounds": outcome.rounds,
            "bytes_sent": outcome.bytes_sent,
            "wait_s": 0.0,
            "peak_mb": peak_memory_mb(),
        }
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def run_party_bench(party: Party, plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Time every (operation, size) of ``plan`` at this party; material is fetched untimed first."""
    ctx = party.context("bench")
    material, channel = ctx.material, ctx.channel
    dealer = ctx.suite.needs_dealer
    if not dealer:  # the protocol's randomness is keyed in a rendezvous, as a cell's is
        _share_round(ctx, 1, party.config.names)
    rows = []
    for op, n in plan["ops"]:
        repeats = plan["repeats"]
        if op in ROWS_OPS:
            rows.append(_rows_op(party, op, n, repeats))
            continue
        operands = _operands(ctx, op, n)
        needs = _material_needs(ctx, op, n) if dealer else []
        if dealer and not needs:  # learn what one run draws, from one untimed run
            before = {(u.kind, u.params): u.count for u in material.usage()}
            _run_op(ctx, op, operands, n, party.config.names)
            drawn = [
                MaterialNeed(u.kind, u.params, u.count - before.get((u.kind, u.params), 0)) for u in material.usage()
            ]
            needs = [need for need in drawn if need.count > 0]
        t0 = time.perf_counter()
        for need in needs:
            material.ensure(need.kind, need.params, need.count * repeats)
        offline = time.perf_counter() - t0
        _barrier(ctx)
        times = []
        rounds0, sent0, _ = channel.stats.snapshot()
        wait0 = channel.stats.wait_seconds
        for _ in range(repeats):
            start = time.perf_counter()
            _run_op(ctx, op, operands, n, party.config.names)
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
                "peak_mb": peak_memory_mb(),  # this process's high-water mark so far
            }
        )
    return rows
