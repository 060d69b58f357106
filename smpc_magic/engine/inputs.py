"""A computation's private inputs: encoded locally, declared in the rendezvous, then shared.

Each private variable contributes one input (one per DataFrame column, keyed ``frame/column``).
A name declared by several parties is pooled: rows stacked in party order, at the largest scale.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import EncodingError, InputMismatchError, MissingContributionError
from ..protocols.base import Array, Codec, InputSharing
from ..protocols.context import ProtocolContext
from ..secret.array import SecretArray
from ..secret.bounds import Bound
from ..secret.compare import indicator
from ..secret.core import align
from ..secret.frames import LEVEL_SEPARATOR, OBSERVED_SUFFIX, SecretFrame, flatten_private, split_key
from ..secret.provenance import Provenance
from .streams import LocalStream, is_streamed, streamed_frames

Declared = Mapping[int, Mapping[str, Mapping[str, Any]]]  # party -> input key -> {"shape", "scale", "bound"}
Ranges = Mapping[str, tuple[float, float]]


@dataclass
class EncodedInput:
    """One private input of this party, encoded by the suite's codec (never sent as such), and
    its public range: the study schema's, [0, 1] for booleans, else the encoding limit."""

    encoded: Array
    scale: int
    bound: tuple[float, float]

    def declaration(self) -> dict[str, Any]:
        return {"shape": list(self.encoded.shape), "scale": self.scale, "bound": list(self.bound)}


def encode_private(
    private: Mapping[str, object], codec: Codec, frac_bits: int, party: str, ranges: Ranges | None = None
) -> dict[str, EncodedInput]:
    """Encode every private value; bad values raise before anything leaves the site."""
    flat = {key: arr for name, value in private.items() for key, arr in flatten_private(name, value).items()}
    return encode_arrays(flat, codec, frac_bits, party, ranges)


def encode_arrays(
    flat: Mapping[str, Array], codec: Codec, frac_bits: int, party: str, ranges: Ranges | None = None
) -> dict[str, EncodedInput]:
    """Encode arrays already keyed ``name`` or ``frame/column``; ``ranges`` are declared ones."""
    out = {}
    for key, arr in flat.items():
        encoded, scale = codec.encode_input(arr, frac_bits, f"private input {key!r} of party {party!r}")
        if ranges is not None and key in ranges:
            bound = (float(ranges[key][0]), float(ranges[key][1]))
        elif np.asarray(arr).dtype.kind == "b":
            bound = (0.0, 1.0)
        else:
            limit = undeclared_limit(codec, scale)
            if scale == 0 and arr.size and float(np.abs(np.asarray(arr, dtype=np.float64)).max()) >= limit:
                raise EncodingError(
                    f"private input {key!r} of party {party!r}: whole numbers of magnitude 2**60 or more need a "
                    "declared range (in the study schema, or `%smpc private NAME --range MIN MAX`)"
                )
            bound = (-limit, limit)
        out[key] = EncodedInput(encoded, scale, bound)
    return out


def undeclared_limit(codec: Codec, scale: int) -> float:
    """The public bound of an input without a declared range: what the encoding holds, and for
    whole numbers a quarter of it, so that a difference of two (a comparison, a maximum) fits."""
    return codec.max_magnitude(scale) / (4 if scale == 0 else 1)


def input_bound(info: Mapping[str, Any], ndim: int) -> Bound:
    """A declared input's public bound; fixed point may round a value by half a step."""
    lo, hi = (float(v) for v in info["bound"])
    scale = int(info["scale"])
    return Bound.of(lo, hi, ndim).widen(2.0**-scale if scale else 0.0)


def variables(declared: Declared) -> set[str]:
    """The variable names (frames, not their columns) any party declared."""
    return {split_key(k)[0] for d in declared.values() for k in d}


def columns(declared: Declared) -> set[str]:
    """The column names of the private data frames any party declared."""
    return {column for d in declared.values() for k in d if (column := split_key(k)[1]) is not None}


def share_inputs(
    ctx: ProtocolContext,
    sharing: InputSharing,
    encoded: Mapping[str, EncodedInput],
    declared: Declared,
    party_names: list[str],
    local_streams: Mapping[str, LocalStream] | None = None,
) -> dict[str, object]:
    """Every party's share of every private input, pooled by name in party order, with
    DataFrame columns regrouped into SecretFrames; private rows read in blocks become
    StreamedFrames (nothing of them is shared until a statistic needs an aggregate)."""
    check_layouts(declared, party_names)
    arrays: dict[str, SecretArray] = {}
    every_key = sorted(set().union(*map(set, declared.values())))
    frames = streamed_frames(ctx, sharing, declared, party_names, len(every_key), local_streams or {})
    for index, key in enumerate(every_key):
        if is_streamed(declared, key):
            continue
        owners = [i for i in sorted(declared) if key in declared[i]]
        shapes = [tuple(int(v) for v in declared[i][key]["shape"]) for i in owners]
        _check_pooled_shapes(key, owners, shapes, party_names)
        parts = []
        for owner, shape in zip(owners, shapes):
            mine = encoded[key].encoded if owner == ctx.party else None
            share = sharing.share(index, owner, shape, mine)
            info = declared[owner][key]
            part = SecretArray(ctx, share, int(info["scale"]), input_bound(info, len(shape)))
            parts.append(part.reshape(1) if len(owners) > 1 and part.ndim == 0 else part)
        pooled = parts[0] if len(parts) == 1 else _pooled(parts)
        arrays[key] = _with_rows(pooled, owners, [p.shape for p in parts], key)
    shared = {**_regroup_frames(arrays, declared), **frames}
    for name, value in shared.items():  # the inputs as shared: smpc.stats.envelope takes only these
        if isinstance(value, SecretArray):
            value.__dict__["_input"] = (name, value._prov, value._share)
        elif isinstance(value, SecretFrame):
            for column in value.columns:
                part = value[column]
                part.__dict__["_input"] = (column, part._prov, part._share)
    return shared


def _with_rows(secret: SecretArray, owners: list[int], shapes: list[tuple[int, ...]], name: str) -> SecretArray:
    """An input's provenance: row ``i`` of the pooled rows is input row ``i``, of the site that
    gave it; a 0/1 integer column is a secret selection of its rows (a count when summed)."""
    row_sites = np.concatenate([np.full(shape[0] if shape else 1, owner) for owner, shape in zip(owners, shapes)])
    secret._prov = Provenance.rows(row_sites, secret.ndim, tag=name, shape=secret.shape)
    lo, hi = secret._bound.lo, secret._bound.hi
    if secret.ndim == 1 and secret._scale == 0 and float(lo.min()) >= 0 and float(hi.max()) <= 1:
        indicator(secret)
    return secret


def _pooled(parts: list[SecretArray]) -> SecretArray:
    """Rows stacked in party order; the bound is the widest of the parties' declared ranges."""
    envelope = parts[0]._bound
    for part in parts[1:]:
        envelope = envelope.envelope(part._bound)
    aligned = align(parts, "pooling the sites' rows", envelope)
    share = np.concatenate([p._share for p in aligned], axis=0)
    widest = aligned[0]._bound
    for part in aligned[1:]:
        widest = widest.envelope(part._bound)
    return SecretArray(parts[0]._ctx, share, aligned[0]._scale, widest)


def _check_pooled_shapes(key: str, owners: list[int], shapes: list[tuple[int, ...]], names: list[str]) -> None:
    if len(owners) < 2:
        return
    if len({s[1:] for s in shapes}) > 1 or any(len(s) != len(shapes[0]) for s in shapes):
        detail = ", ".join(f"{names[i]} {s}" for i, s in zip(owners, shapes))
        raise InputMismatchError(
            f"private {key!r} is pooled from several parties but their shapes do not line up "
            f"({detail}); rows are stacked, so everything after the first dimension must match."
        )


def _regroup_frames(arrays: dict[str, SecretArray], declared: Declared) -> dict[str, object]:
    column_order: dict[str, list[str]] = {}  # as the first party in session order lists them
    for i in sorted(declared):
        for key in declared[i]:
            frame, column = split_key(key)
            if column is not None and column not in column_order.setdefault(frame, []):
                column_order[frame].append(column)
    out: dict[str, object] = {}
    frames: dict[str, dict[str, SecretArray]] = {}
    for key, arr in arrays.items():
        frame, column = split_key(key)
        if column is None:
            out[key] = arr
        else:
            frames.setdefault(frame, {})[column] = arr
    for frame, columns in frames.items():
        _mark_observed(columns)
        out[frame] = SecretFrame({c: columns[c] for c in column_order[frame]})
    for key, value in list(out.items()):  # a plain input that may be missing: ``bmi`` and ``bmi:observed``
        observed = out.get(f"{key}{OBSERVED_SUFFIX}")
        if isinstance(value, SecretArray) and isinstance(observed, SecretArray):
            observed.__dict__["_variable"] = key
            observed.__dict__["_frozen"] = True
            value._prov = value._prov.with_observed(observed).as_indicator(observed)
    return out


def _mark_observed(columns: dict[str, SecretArray]) -> None:
    """Each column of a variable that may be missing (and each level of a categorical one)
    carries that variable's ``:observed`` column, so that statistics leave its missing rows out."""
    for name, column in columns.items():
        if name.endswith(OBSERVED_SUFFIX):
            continue
        variable = name.split(LEVEL_SEPARATOR, 1)[0]
        observed = columns.get(f"{variable}{OBSERVED_SUFFIX}")
        if observed is not None:
            observed.__dict__["_variable"] = variable
            observed.__dict__["_frozen"] = True  # the engine's record of which rows are present
            # the rows observed are a selection of the values (the others are 0): a sum of them
            # is checked like a sum over any subset
            column._prov = column._prov.with_observed(observed).as_indicator(observed)


def check_layouts(declared: Declared, names: list[str]) -> None:
    """A frame pooled by several sites needs the same columns everywhere."""
    layouts: dict[str, dict[int, frozenset[str] | None]] = {}
    for i in sorted(declared):
        for key in declared[i]:
            frame, column = split_key(key)
            cols = layouts.setdefault(frame, {})
            if column is None:
                cols[i] = None
            else:
                cols[i] = (cols.get(i) or frozenset()) | {column}
    for frame, per_party in layouts.items():
        if len(set(per_party.values())) > 1:
            detail = "; ".join(
                f"{names[i]}: " + ("an array" if c is None else f"columns {sorted(c)}") for i, c in per_party.items()
            )
            raise InputMismatchError(
                f"private {frame!r} is pooled from several parties but does not have the same layout everywhere "
                f"({detail}). Harmonise the column sets before the analysis."
            )


def contributors(declared: Declared, used: set[str], names: list[str]) -> dict[str, list[str]]:
    """For each private variable the cell uses, the sites that provide it, in party order."""
    out: dict[str, list[str]] = {}
    for i in sorted(declared):
        for variable in sorted({split_key(k)[0] for k in declared[i]} & used):
            out.setdefault(variable, []).append(names[i])
    return out


def check_contributors(provided: dict[str, list[str]], partial: set[str], names: list[str]) -> None:
    """Every site must provide every private name the cell uses, unless the cell says some
    contribute nothing (``--partial NAME``): a site that forgot to mark its data would otherwise
    silently leave its rows out of a pooled result."""
    for variable, sites in sorted(provided.items()):
        missing = tuple(n for n in names if n not in sites)
        if missing and variable not in partial:
            who = ", ".join(repr(n) for n in missing)
            raise MissingContributionError(
                f"private {variable!r} is not provided by site {who} (it has not marked {variable!r} private), so "
                f"its rows would be left out of the result; nothing was shared. Mark it there "
                f"(`%smpc private {variable}`), or run the cell with `--partial {variable}` if that site has "
                "no such data.",
                name=variable,
                sites=missing,
            )
