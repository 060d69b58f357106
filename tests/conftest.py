"""Shared fixtures: in-memory parties (protocol math) and a dealer process. The e2e tests'
kernels are in :mod:`tests.e2e.kernels`; their fixtures live in the e2e conftest."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.inmemory import InMemoryParties
from tests.support.processes import dealer_process


@pytest.fixture
def parties() -> InMemoryParties:
    """Three in-memory parties with the additive suite and a local dealer."""
    return InMemoryParties(3)


@pytest.fixture
def start_dealer() -> Iterator[Callable[[Path], subprocess.Popen]]:
    """Start ``smpc dealer SESSION`` as a real process; every one started is stopped afterwards."""
    with contextlib.ExitStack() as stack:
        yield lambda session: stack.enter_context(dealer_process(session))
