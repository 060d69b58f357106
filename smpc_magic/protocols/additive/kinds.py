"""Correlated randomness from the trusted dealer: what each kind is and how shares are made.

Each kind has *independent* components (every party's share is a PRG expansion of its own seed)
and *dependent* ones (a function of the independent values: c = a*b for a triple). Party 0 gets
a correction for each dependent component; everyone else gets only a 32-byte seed. This is the
dealer's seed compression: for n parties the dealer sends 32*(n-1) bytes plus one party's
dependent arrays, instead of n full copies.

Flat kinds (``mul``, ``div``) are streams of scalars consumed by count; shaped kinds (``matmul``,
``gram``, ``bmul``) are items made for one pair of shapes and consumed whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..base import Array
from ..prg import derive_seed, expand
from .ring import ring_matmul, ring_op

MASK63 = np.uint64((1 << 63) - 1)
#: Largest request the dealer serves (elements per component).
MAX_ELEMENTS = 1 << 26


@dataclass(frozen=True)
class Component:
    """One array of a kind of material. ``binary`` components are XOR-shared (bit vectors in
    uint64 words) instead of additively shared; ``mask`` keeps only some bits of each word."""

    name: str
    shape: tuple[int, ...]
    dependent: bool
    binary: bool = False
    mask: int | None = None


def _size(shape: Any) -> int:
    return int(np.prod(shape, dtype=np.int64))


def matmul_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of ``A @ B`` (numpy's rules) without computing anything; ValueError if none."""
    if not a or not b:
        raise ValueError("matmul needs at least 1-D operands")
    a2, b2 = (1, *a) if len(a) == 1 else a, (*b, 1) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ValueError(f"matmul shapes {a} and {b} do not match")
    shape = (*np.broadcast_shapes(a2[:-2], b2[:-2]), a2[-2], b2[-1])
    if len(a) == 1:
        shape = shape[:-2] + shape[-1:]
    if len(b) == 1:
        shape = shape[:-1]
    return tuple(shape)


class MaterialKind:
    """Layout and dealer-side derivation of one kind of material."""

    name: str
    flat: bool

    def components(self, params: tuple[Any, ...], count: int) -> list[Component]:
        raise NotImplementedError

    def derive(self, params: tuple[Any, ...], values: dict[str, Array]) -> dict[str, Array]:
        """Dealer only: the full dependent values from the full independent ones."""
        raise NotImplementedError


class MulTriples(MaterialKind):
    """Elementwise Beaver triples (a, b, c = a*b)."""

    name, flat = "mul", True

    def components(self, params: tuple[Any, ...], count: int) -> list[Component]:
        return [Component("a", (count,), False), Component("b", (count,), False), Component("c", (count,), True)]

    def derive(self, params: tuple[Any, ...], values: dict[str, Array]) -> dict[str, Array]:
        return {"c": values["a"] * values["b"]}


class DivMasks(MaterialKind):
    """Masks for dividing by a public positive integer d (truncation is d = 2**f).

    r is uniform in the ring; the dealer also shares floor((r mod 2**63) / d) and the top bit of r.
    """

    name, flat = "div", True

    def components(self, params: tuple[Any, ...], count: int) -> list[Component]:
        return [Component("r", (count,), False), Component("rdiv", (count,), True), Component("rmsb", (count,), True)]

    def derive(self, params: tuple[Any, ...], values: dict[str, Array]) -> dict[str, Array]:
        (d,) = params
        r = values["r"]
        return {"rdiv": (r & MASK63) // np.uint64(d), "rmsb": r >> np.uint64(63)}


class MatmulTriples(MaterialKind):
    """Matrix triples (A, B, C = A @ B) for one pair of shapes."""

    name, flat = "matmul", False

    def components(self, params: tuple[Any, ...], count: int) -> list[Component]:
        shape_a, shape_b = params
        shape_c = matmul_shape(tuple(shape_a), tuple(shape_b))
        return [
            Component("A", tuple(shape_a), False),
            Component("B", tuple(shape_b), False),
            Component("C", shape_c, True),
        ]

    def derive(self, params: tuple[Any, ...], values: dict[str, Array]) -> dict[str, Array]:
        return {"C": ring_matmul(values["A"], values["B"])}


class GramTriples(MaterialKind):
    """Triples (A, C = A.T @ A) for X.T @ X: one opening of X - A instead of two."""

    name, flat = "gram", False

    def components(self, params: tuple[Any, ...], count: int) -> list[Component]:
        (shape_a,) = params
        return [Component("A", tuple(shape_a), False), Component("C", (shape_a[-1], shape_a[-1]), True)]

    def derive(self, params: tuple[Any, ...], values: dict[str, Array]) -> dict[str, Array]:
        a = values["A"]
        return {"C": ring_matmul(a.T, a)}


class BroadcastTriples(MaterialKind):
    """Triples (a, b, c = a*b) with numpy broadcasting between the shapes of a and b."""

    name, flat = "bmul", False

    def components(self, params: tuple[Any, ...], count: int) -> list[Component]:
        shape_a, shape_b = params
        shape_c = np.broadcast_shapes(tuple(shape_a), tuple(shape_b))
        return [
            Component("a", tuple(shape_a), False),
            Component("b", tuple(shape_b), False),
            Component("c", shape_c, True),
        ]

    def derive(self, params: tuple[Any, ...], values: dict[str, Array]) -> dict[str, Array]:
        return {"c": values["a"] * values["b"]}


class AndTriples(MaterialKind):
    """Binary Beaver triples over packed bits: words a, b and c = a AND b, all XOR-shared."""

    name, flat = "and", True

    def components(self, params: tuple[Any, ...], count: int) -> list[Component]:
        return [
            Component("a", (count,), False, binary=True),
            Component("b", (count,), False, binary=True),
            Component("c", (count,), True, binary=True),
        ]

    def derive(self, params: tuple[Any, ...], values: dict[str, Array]) -> dict[str, Array]:
        return {"c": values["a"] & values["b"]}


class ComparisonMasks(MaterialKind):
    """For comparisons: r uniform in the ring (additive) and r mod 2**63 XOR-shared, so the
    parties hold the bits of the mask they open x + r with."""

    name, flat = "cmp", True

    def components(self, params: tuple[Any, ...], count: int) -> list[Component]:
        return [Component("r", (count,), False), Component("rbits", (count,), True, binary=True)]

    def derive(self, params: tuple[Any, ...], values: dict[str, Array]) -> dict[str, Array]:
        return {"rbits": values["r"] & MASK63}


class DaBits(MaterialKind):
    """Random bits shared twice: XOR-shared (bit 0 of a word) and additively, to turn a
    XOR-shared bit into an additive one with a single opening."""

    name, flat = "dabit", True

    def components(self, params: tuple[Any, ...], count: int) -> list[Component]:
        return [Component("sb", (count,), False, binary=True, mask=1), Component("sa", (count,), True)]

    def derive(self, params: tuple[Any, ...], values: dict[str, Array]) -> dict[str, Array]:
        return {"sa": values["sb"].copy()}


KINDS: dict[str, MaterialKind] = {
    k.name: k
    for k in (
        MulTriples(),
        DivMasks(),
        MatmulTriples(),
        GramTriples(),
        BroadcastTriples(),
        AndTriples(),
        ComparisonMasks(),
        DaBits(),
    )
}


def stream_key(kind: str, params: tuple[Any, ...]) -> str:
    """A stable text name for one stream of material, e.g. ``div:65536`` or ``matmul:100x10,10x1``."""

    def fmt(p: Any) -> str:
        if isinstance(p, tuple | list):
            return (
                "x".join(str(int(v)) for v in p)
                if all(not isinstance(v, tuple | list) for v in p)
                else ",".join(fmt(v) for v in p)
            )
        return str(int(p))

    return f"{kind}:{fmt(params)}" if params else kind


@dataclass
class PartyMaterial:
    """What the dealer sends one party for one chunk: its seed, and (party 0) corrections."""

    seed: bytes
    corrections: dict[str, Array]


@ring_op
def deal(kind: str, params: tuple[Any, ...], count: int, master_seed: bytes, n_parties: int) -> list[PartyMaterial]:
    """Dealer side: every party's material for one chunk, derived deterministically from a seed."""
    spec = KINDS[kind]
    comps = spec.components(params, count)
    seeds = [derive_seed(master_seed, i) for i in range(n_parties)]
    full: dict[str, Array] = {}
    for label, comp in enumerate(comps):
        if not comp.dependent:
            total = np.zeros(_size(comp.shape), np.uint64)
            for seed in seeds:
                part = _party_expansion(comp, seed, label, _size(comp.shape))
                if comp.binary:
                    total ^= part
                else:
                    total += part
            full[comp.name] = total.reshape(comp.shape)
    dependent = spec.derive(params, full)
    corrections = {}
    for label, comp in enumerate(comps):
        if comp.dependent:
            corr = np.ascontiguousarray(dependent[comp.name], dtype=np.uint64).reshape(-1).copy()
            for seed in seeds[1:]:
                part = _party_expansion(comp, seed, label, _size(comp.shape))
                if comp.binary:
                    corr ^= part
                else:
                    corr -= part
            corrections[comp.name] = corr.reshape(comp.shape)
    return [PartyMaterial(seeds[0], corrections)] + [PartyMaterial(s, {}) for s in seeds[1:]]


def _party_expansion(comp: Component, seed: bytes, label: int, count: int, offset: int = 0) -> Array:
    words = expand(seed, label, count, offset=offset)
    return words & np.uint64(comp.mask) if comp.mask is not None else words


@ring_op
def expand_share(
    kind: str,
    params: tuple[Any, ...],
    count: int,
    party: int,
    material: PartyMaterial,
    offset: int = 0,
    take: int | None = None,
) -> dict[str, Array]:
    """Party side: this party's shares of a chunk (or of ``take`` elements from ``offset`` of a flat chunk)."""
    spec = KINDS[kind]
    comps = spec.components(params, count)
    if not spec.flat:
        offset, take = 0, None
    out = {}
    for label, comp in enumerate(comps):
        n = _size(comp.shape) if take is None else take
        if comp.dependent and party == 0:
            corr = material.corrections[comp.name]
            arr = np.asarray(corr).reshape(-1)[offset : offset + n]
            out[comp.name] = np.array(arr, dtype=np.uint64)
        else:
            out[comp.name] = _party_expansion(comp, material.seed, label, n, offset=offset)
        if take is None:
            out[comp.name] = out[comp.name].reshape(comp.shape)
    return out


def params_from_json(kind: str, raw: Any) -> tuple[Any, ...]:
    """Validate and normalise the parameters of a material request."""
    if kind not in KINDS:
        raise ValueError(f"unknown material kind {kind!r}")

    def dims(value: Any) -> tuple[int, ...]:
        if (
            not isinstance(value, list)
            or not 0 <= len(value) <= 4
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_ELEMENTS for v in value)
        ):
            raise ValueError("bad shape in material request")
        if int(np.prod(value, dtype=np.int64)) > MAX_ELEMENTS:
            raise ValueError("material request too large")
        return tuple(value)

    if not isinstance(raw, list):
        raise ValueError("material parameters must be a list")
    if kind in ("mul", "and", "cmp", "dabit"):
        return ()
    if kind == "div":
        divisor = raw[0] if len(raw) == 1 else None
        if not (isinstance(divisor, int) and not isinstance(divisor, bool) and 1 <= divisor < (1 << 62)):
            raise ValueError("bad divisor in material request")
        return (raw[0],)
    if kind == "gram":
        if len(raw) != 1 or len(dims(raw[0])) != 2:
            raise ValueError("gram material needs a 2-D shape")
        return (dims(raw[0]),)
    if len(raw) != 2:
        raise ValueError("material parameters need two shapes")
    shape_a, shape_b = raw
    params = (dims(shape_a), dims(shape_b))
    KINDS[kind].components(params, 1)  # raises for incompatible shapes
    if unit_elements(kind, params) > MAX_ELEMENTS:  # e.g. an outer product of two long vectors
        raise ValueError("material request too large")
    return params


def unit_elements(kind: str, params: tuple[Any, ...]) -> int:
    """Ring elements in one unit of a kind (all parts, as the dealer makes them)."""
    return sum(_size(c.shape) for c in KINDS[kind].components(params, 1))


def params_to_json(params: tuple[Any, ...]) -> list[Any]:
    return [list(p) if isinstance(p, tuple) else p for p in params]
