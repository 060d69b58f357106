"""Real processes the tests start, and stop whatever happens."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def stop_process(proc: subprocess.Popen) -> None:
    """Terminate, then kill if it does not stop within 10 s."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@contextlib.contextmanager
def dealer_process(session: Path) -> Iterator[subprocess.Popen]:
    """``smpc dealer SESSION`` as a real process for the duration of the block."""
    proc = subprocess.Popen([sys.executable, "-m", "smpc_magic.cli", "dealer", str(session)], cwd=ROOT)
    try:
        yield proc
    finally:
        stop_process(proc)
