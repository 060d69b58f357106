"""A bound on the CPU time of a cell's own evaluation at this site (the session's
``cell_cpu_seconds``), so that a cell that loops for ever stops, at every site, with an error
that says which limit it met and where to change it.

Every site runs the same cell, so each site's limit stops its own evaluation; a site that stops
tells the others (the engine broadcasts an abort for any error that is not one every site meets
by itself), and those waiting for it stop at once.

How: a CPU-time timer (``setitimer(ITIMER_PROF)``: user and system time of this process, so
time spent waiting for peers does not count) is armed while the cell runs; its ``SIGPROF``
handler raises :class:`CellStopped` where the cell (or what it called) is running. Nothing traces
the cell. A cell cannot catch the stop (the cell language has no ``try``, and the stop is a
``BaseException``); should anything it calls swallow it, the timer fires again every
``_REPEAT_S`` CPU seconds until the cell has left. The handler raises only while a frame of the
cell is on the stack, never in this module's own code, and the previous ``SIGPROF`` handler and
timer are restored afterwards, so the kernel stays usable.

Signals are handled in the main thread only (where the Jupyter kernel and ``simulate``'s party
processes run cells); a cell run in another thread (the unit tests' in-memory parties) is not
bounded.
"""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

from ..errors import CellLimitError
from .cell_policy import CELL_FILENAME, cell_line

T = TypeVar("T")

#: The session setting, named in every message about the limit.
SETTING = "cell_cpu_seconds"
#: After the limit is met, the timer fires again this often (CPU seconds) until the cell has left.
_REPEAT_S = 0.05
_PUBLIC_FUNCTION_PREFIX = "<public function "


class CellStopped(BaseException):
    """Raised inside a cell whose CPU time is used up. A ``BaseException``, so that a cell's
    ``except Exception`` cannot take it; turned into :class:`CellLimitError` at the boundary."""


def _is_cell_code(frame: FrameType) -> bool:
    name = frame.f_code.co_filename
    return name == CELL_FILENAME or name.startswith(_PUBLIC_FUNCTION_PREFIX)


def _cell_frames(frame: FrameType | None) -> list[FrameType]:
    out = []
    while frame is not None:
        if _is_cell_code(frame):
            out.append(frame)
        frame = frame.f_back
    return out


class _Limit:
    """One armed limit of ``seconds`` CPU seconds."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.armed = False
        self.tripped = False
        self._previous_handler: Any = signal.SIG_DFL
        self._previous_timer = (0.0, 0.0)

    def start(self) -> None:
        self._previous_handler = signal.getsignal(signal.SIGPROF)
        signal.signal(signal.SIGPROF, self._on_timer)
        self.armed = True
        self._previous_timer = signal.setitimer(signal.ITIMER_PROF, self.seconds)

    def _on_timer(self, signum: int, frame: FrameType | None) -> None:
        if not self.armed:
            return
        signal.setitimer(signal.ITIMER_PROF, _REPEAT_S)  # until the cell has left
        cell_frames = _cell_frames(frame)
        if not cell_frames:  # between the cell and this module's own code: not inside the cell
            return
        self.tripped = True
        raise CellStopped

    def stop(self) -> None:
        self.armed = False
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, self._previous_handler if self._previous_handler is not None else signal.SIG_DFL)
        delay, interval = self._previous_timer
        if delay > 0 or interval > 0:  # someone else's CPU timer: give it back, less what the cell used
            signal.setitimer(signal.ITIMER_PROF, max(delay - self.seconds, 1e-6) if self.tripped else delay, interval)


def bounded(seconds: float | None) -> bool:
    """Whether a limit of ``seconds`` can be enforced here (main thread, a CPU timer)."""
    return (
        seconds is not None
        and math.isfinite(seconds)
        and seconds > 0
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )


def limit_message(seconds: float, line: int | None) -> str:
    where = f" (stopped at line {line} of the cell)" if line is not None else ""
    return (
        f"the cell used more than {seconds:g} s of CPU time at this site{where}, the limit a cell's own work may "
        f"take ({SETTING} in the session file's [session] table; time spent waiting for the other sites does not "
        "count). It was stopped here and the other sites were told; nothing of it was released. Look for a loop "
        f"that never ends; for a long analysis raise {SETTING} in the session file (every site uses the same file)."
    )


def run_with_cpu_limit(seconds: float | None, run: Callable[[], T]) -> T:
    """``run()`` with at most ``seconds`` of CPU time; :class:`CellLimitError` beyond that."""
    if not bounded(seconds):
        return run()
    assert seconds is not None
    limit = _Limit(seconds)
    stopped: CellStopped | None = None
    try:
        try:
            limit.start()
            result = run()
        finally:
            limit.stop()
    except CellStopped as exc:
        stopped = exc
    if stopped is not None or limit.tripped:
        line = cell_line(stopped) if stopped is not None else None
        raise CellLimitError(limit_message(seconds, line), seconds=seconds) from None
    return result
