"""Shared fixtures: in-memory parties (protocol math) and a dealer process. The e2e tests'
kernels are in :mod:`tests.e2e.kernels`; their fixtures live in the e2e conftest."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.inmemory import DEFAULT_PROTOCOL, InMemoryParties
from tests.support.processes import dealer_process


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--slow",
        action="store_true",
        help="also run the larger sets marked slow (run before resolving statistics work; not in CI)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without ``--slow`` the tests marked slow are deselected (reported as such, never skipped)."""
    if config.getoption("--slow"):
        return
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]


@pytest.fixture(scope="module", params=["additive", "shamir"])
def protocol(request: pytest.FixtureRequest) -> Iterator[str]:
    """Runs a module's tests under both protocols (``pytestmark = pytest.mark.usefixtures("protocol")``):
    in-memory parties made without naming a suite use it (Shamir needs three or more parties)."""
    DEFAULT_PROTOCOL[0] = request.param
    yield request.param
    DEFAULT_PROTOCOL[0] = "additive"


@pytest.fixture
def parties() -> InMemoryParties:
    """Three in-memory parties with the test's protocol (additive with a local dealer by default)."""
    return InMemoryParties(3)


@pytest.fixture
def start_dealer() -> Iterator[Callable[[Path], subprocess.Popen]]:
    """Start ``smpc dealer SESSION`` as a real process; every one started is stopped afterwards."""
    with contextlib.ExitStack() as stack:
        yield lambda session: stack.enter_context(dealer_process(session))
