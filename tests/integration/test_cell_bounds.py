"""Bounds on the cell, with real party processes: a cell that never ends stops at every site under
the session's CPU limit (and the sites waiting for the one that stopped are told at once), and a
site that declares different inputs to different peers is named at the honest sites."""

import numpy as np
import pytest

from smpc_magic import simulate
from smpc_magic.errors import CellLimitError
from smpc_magic.launch.cluster import LocalCluster
from tests.integration.test_faults import X_RANGE, cell_job, wait_status, write_inputs

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

ENDLESS = "while True:\n    pass"
ENDLESS_SECRET_ARITHMETIC = "acc = x * 0\nwhile True:\n    acc = acc + x * x\ns = acc.sum()"


def test_an_endless_loop_stops_every_site_with_the_cpu_limit_and_the_next_cell_runs():
    names = ["a", "b", "c"]
    # the session timeout is far beyond this test's limit: only the CPU limit can stop the cell
    with LocalCluster(names, timeout=600, ranges=X_RANGE, cell_cpu_seconds=1.0) as cluster:
        cluster.start_dealer()
        for name in names:
            cluster.start_party(name, cell_job(ENDLESS, write_inputs(cluster, name, x=np.ones(3)), [], "loop"))
        statuses = wait_status(cluster, names, 120)
        for name, status in statuses.items():
            assert not status["ok"] and status["error_type"] == "CellLimitError", (name, status)
            assert "cell_cpu_seconds" in status["message"] and "1 s of CPU time" in status["message"]
        cluster.procs.clear()
        # the same session runs the next cell (fresh party processes, as simulate starts them)
        for name in names:
            (cluster.directory / "jobs" / name / "out" / "status.json").unlink()
            cluster.start_party(name, cell_job("s = x.sum()", write_inputs(cluster, name, x=np.ones(3)), ["s"], "next"))
        statuses = wait_status(cluster, names, 120)
        assert all(status["ok"] for status in statuses.values()), statuses


def test_simulate_stops_a_loop_of_secret_arithmetic_with_the_cell_limit():
    inputs = {p: {"x": np.ones(3)} for p in ["a", "b", "c"]}
    with pytest.raises(CellLimitError, match="cell_cpu_seconds"):
        simulate(ENDLESS_SECRET_ARITHMETIC, inputs, ["s"], ranges=X_RANGE, timeout=600, cell_cpu_seconds=1.0)
    assert simulate("s = x.sum()", inputs, ["s"], ranges=X_RANGE, cell_cpu_seconds=1.0)["s"] == 9.0


def test_the_sites_waiting_for_a_site_stopped_by_its_limit_are_told_at_once():
    """Only 'a' has a small limit: 'b' and 'c' wait for a's next message when a stops, and must
    learn at once that a stopped (their own limit and the session timeout are far away)."""
    names = ["a", "b", "c"]
    with LocalCluster(names, timeout=600, ranges=X_RANGE) as cluster:
        cluster.start_dealer()
        for name in names:
            limit = {"cell_cpu_seconds": 1.0} if name == "a" else {}
            inputs = write_inputs(cluster, name, x=np.ones(3))
            cluster.start_party(name, cell_job(ENDLESS_SECRET_ARITHMETIC, inputs, ["s"], "loop", **limit))
        statuses = wait_status(cluster, names, 120)
        assert statuses["a"]["error_type"] == "CellLimitError", statuses["a"]
        for name in ["b", "c"]:
            status = statuses[name]
            # told by 'a' itself, or by 'b' passing on a's stop first (a race under load): 'a' is named
            told = status["peer"] == "a" or "because party 'a' stopped" in status["message"]
            assert status["error_type"] == "PeerAborted" and told, (name, status)
            assert "cell_cpu_seconds" in status["message"], status


def test_a_site_that_declares_different_inputs_to_different_peers_is_named_at_the_honest_sites():
    names = ["a", "b", "c"]
    with LocalCluster(names, timeout=600, ranges=X_RANGE) as cluster:
        cluster.start_dealer()
        for name in names:
            # 'c' tells 'a' it has 3 rows of x and 'b' that it has 4
            faults = {"faults": {"equivocate": "agree on the cell"}} if name == "c" else {}
            inputs = write_inputs(cluster, name, x=np.ones(3))
            cluster.start_party(name, cell_job("s = x.sum()", inputs, ["s"], "equivocation", **faults))
        statuses = wait_status(cluster, names, 120)
        for name in ["a", "b"]:
            status = statuses[name]
            assert status["error_type"] == "InputMismatchError", (name, status)
            assert status["message"].startswith("party 'c' declared"), (name, status)
            assert "nothing was shared" in status["message"]
        assert not statuses["c"]["ok"]
