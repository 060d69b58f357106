"""One set of public time points per time variable and kind of statistic in a cell.

A statistic that reads a secret time at public points (Kaplan–Meier at its grid, Cox regression
on a grid of cut points or at every event time) checks the groups its own points make: the rows
at risk at each, the events between two. Two statistics of one kind on the same rows' times at
different points (curves at weeks 49 and 51, Cox fits on grids ending there) differ by the rows
between those points, a group neither checked: their difference told a red team one patient's
event and covariate. So, within a computation, every statistic of a kind whose time values
overlap another's must read them at the same points and as the same values (not shifted or
scaled: ``t - 2`` at 49 is ``t`` at 51). Different kinds may differ (Kaplan–Meier curves at whole
years beside a Cox fit on quarter years), as may cells: README states that limit.

The check uses public facts only (the points, the times' provenance), so every site refuses
alike, before the second statistic sends anything."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import TimePointsError

#: the computation's registry entry (``ProtocolContext.registry``)
KEY = "time_points"


@dataclass(frozen=True)
class _Reading:
    """One statistic's reading of a secret time: its kind, the rows behind each element, how
    each element is derived from them, and its public points (None: at every event time)."""

    kind: str
    rowid: np.ndarray
    #: per element: how the time and the event are derived from its row (two columns)
    pattern: np.ndarray
    points: tuple[float, ...] | None
    what: str


def register_time_points(time: Any, kind: str, points: Any, what: str, event: Any) -> None:
    """Record that a statistic of ``kind`` reads ``time`` (with ``event``) at ``points`` (None:
    at every event time, exactly); raise :class:`TimePointsError` if another statistic of that
    kind in this computation read overlapping rows at other points or as other values: other
    times, or other events (``event * (time < 49)`` beside ``event``: the difference is the
    events of the rows left out, at the same points)."""
    prov = _source(time)._prov
    reading = _Reading(
        kind,
        np.broadcast_to(prov.rowid, time.shape).reshape(-1).copy(),
        np.column_stack([_pattern(time), _pattern(event) if event.shape == time.shape else _pattern(time) * 0]),
        None if points is None else tuple(float(p) for p in np.asarray(points, dtype=np.float64).reshape(-1)),
        what,
    )
    earlier: list[_Reading] = time._ctx.registry.setdefault(KEY, [])
    for other in earlier:
        if other.kind == kind and _overlap(other, reading) and not _same(other, reading):
            if other.points != reading.points:
                differs = f"at {_described(other.points)}, this one at {_described(reading.points)}"
                between = "the rows between one's points and the other's would be a group no rule checks"
            else:
                differs = "as other time or event values (a shifted time, or events multiplied by a selection)"
                between = "the events of the rows one leaves out would be a group no rule checks"
            raise TimePointsError(
                f"{what}: another {kind} in this cell reads the same rows' times {differs}; {between} (two "
                "curves or fits would tell them apart), so nothing was released. In one cell, give every "
                f"{kind} on these rows the same points, times and events (not shifted, scaled or multiplied by a "
                "selection; subsets with where=); put one with other points in its own cell"
            )
    earlier.append(reading)


def _source(x: Any) -> Any:
    """A secret filter's input (the filter keeps its values on the rows kept)."""
    return x.__dict__.get("_unfiltered", x)


def _pattern(x: Any) -> np.ndarray:
    return np.broadcast_to(_source(x)._prov.pattern, x.shape).reshape(-1)


def _overlap(a: _Reading, b: _Reading) -> bool:
    """Whether two readings may share a row (a time not tied to one row each, such as public
    times or a combination of rows, shares every row: fail closed)."""
    return _untracked(a, b) or bool(np.intersect1d(a.rowid, b.rowid).size)


def _same(a: _Reading, b: _Reading) -> bool:
    """The same points, and the same values on the rows both read."""
    if a.points != b.points:
        return False
    if _untracked(a, b):  # only an identical reading
        return a.pattern.shape == b.pattern.shape and bool(
            (a.rowid == b.rowid).all() and (a.pattern == b.pattern).all()
        )
    first = dict(zip(a.rowid.tolist(), map(tuple, a.pattern.tolist())))
    return all(first.get(r, p) == p for r, p in zip(b.rowid.tolist(), map(tuple, b.pattern.tolist())))


def _untracked(a: _Reading, b: _Reading) -> bool:
    return bool((a.rowid < 0).any() or (b.rowid < 0).any())


def _described(points: tuple[float, ...] | None) -> str:
    if points is None:
        return "every event time (no grid)"
    shown = ", ".join(f"{p:g}" for p in points[:4]) + (", ..." if len(points) > 4 else "")
    return f"{len(points)} point{'s' if len(points) != 1 else ''} ({shown})"
