"""The CPU-time bound on a cell's own evaluation, in this process's main thread (where the Jupyter
kernel and simulate's party processes run cells): it stops a loop, names the limit and the
setting, and leaves the process as it found it."""

import signal
import threading

import pytest

from smpc_magic.engine.sandbox import run_in_sandbox
from smpc_magic.errors import CellLimitError, SmpcError

pytestmark = pytest.mark.timeout(60)

LOOPS = {
    "while True": "while True:\n    pass",
    "a loop in a function": "def spin(n):\n    while n >= 0:\n        n = n + 1\n    return n\ny = spin(0)",
    "a comprehension": "y = [i * i for i in range(10**12)]",
    "numpy in a loop": "y = np.zeros(3)\nwhile True:\n    y = y + np.ones(3)",
}


@pytest.mark.parametrize("code", list(LOOPS.values()), ids=list(LOOPS))
def test_a_cell_that_never_ends_is_stopped_naming_the_limit_and_the_setting(code):
    with pytest.raises(CellLimitError) as caught:
        run_in_sandbox(code, {}, cpu_seconds=0.2)
    assert "cell_cpu_seconds" in str(caught.value) and "0.2 s of CPU time" in str(caught.value)
    assert isinstance(caught.value, SmpcError) and caught.value.seconds == 0.2


def test_the_stop_names_the_line_of_the_cell_it_stopped():
    with pytest.raises(CellLimitError, match="line 3 of the cell"):
        run_in_sandbox("x = 1\ny = 2\nwhile True:\n    x = x + 1", {}, cpu_seconds=0.2)


def test_the_previous_handler_and_timer_are_restored_and_the_next_cell_runs():
    seen = []

    def handler(signum, frame):
        seen.append(signum)

    previous = signal.signal(signal.SIGPROF, handler)
    try:
        signal.setitimer(signal.ITIMER_PROF, 1000.0)  # someone else's profiling timer
        with pytest.raises(CellLimitError):
            run_in_sandbox("while True:\n    pass", {}, cpu_seconds=0.2)
        assert signal.getsignal(signal.SIGPROF) is handler
        remaining, interval = signal.getitimer(signal.ITIMER_PROF)
        assert 0 < remaining <= 1000.0 and interval == 0
        assert run_in_sandbox("y = sum(range(100))", {}, cpu_seconds=0.2)["y"] == 4950
        assert signal.getsignal(signal.SIGPROF) is handler
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
    assert not seen  # the cell's limit never called someone else's handler


def test_a_cell_within_its_limit_leaves_no_timer_behind():
    before = signal.getsignal(signal.SIGPROF)
    assert run_in_sandbox("y = 2 * 21", {}, cpu_seconds=5.0)["y"] == 42
    assert signal.getsignal(signal.SIGPROF) is before
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)


def test_the_limit_counts_cpu_time_not_waiting():
    """A cell that waits (here: on an event another thread sets, as a party waits for a peer)
    uses no CPU time and is not stopped by a limit shorter than the wait."""
    event = threading.Event()

    def wait_for_the_peer():
        assert event.wait(30)
        return 1

    released = threading.Timer(0.6, event.set)
    released.start()
    assert (
        run_in_sandbox("y = wait_for_the_peer()", {"wait_for_the_peer": wait_for_the_peer}, cpu_seconds=0.3)["y"] == 1
    )
    released.join()
