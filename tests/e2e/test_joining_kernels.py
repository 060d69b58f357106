"""Sites do not press Run at the same second: three real kernels join a cell at different
times, cancel it with the kernel's Interrupt, or cannot take part; every site learns at once
and the kernels stay usable."""

import time

import pytest

from kernel_bridge.session import new_session
from tests.e2e.kernels import connected_sites, run_all
from tests.support.processes import dealer_process

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]

NAMES = ["site_a", "site_b", "site_c"]
CELL = "%%smpc --reveal total\ntotal = x.sum()"
TIMEOUT = 6


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    directory = tmp_path_factory.mktemp("joining")
    session = new_session(NAMES, directory, timeout=TIMEOUT)  # silent peers: 6 s; joining: the default
    with dealer_process(session), connected_sites(session, directory, NAMES) as sites:
        data = [f"import numpy as np\nx = np.arange({k}, {k} + 4.0)\n%smpc private x --range 0 10" for k in range(3)]
        assert all(r.ok for r in run_all(sites, data))
        yield sites


def test_a_site_that_joins_long_after_the_timeout_is_waited_for_and_named(sites):
    started = time.monotonic()
    early = [site.submit(CELL) for site in sites[:2]]
    sites[0].wait_for_output(early[0], "smpc: waiting for site_c to run this cell", 30)
    # the scenario itself: site_c's analyst comes twice the session's timeout later
    time.sleep(max(0.0, 2 * TIMEOUT - (time.monotonic() - started)))
    late = sites[2].submit(CELL)
    results = [site.collect(i, 60) for site, i in zip(sites, [*early, late])]
    assert all(r.ok for r in results), [r.error for r in results]
    assert "site_a, site_b ready" not in results[0].text  # site_a waits for site_c; site_b is ready
    assert "waiting for site_c to run this cell (site_b ready)" in results[0].text
    assert float(sites[1].run("print(total)").text) == sum(range(0, 4)) + sum(range(1, 5)) + sum(range(2, 6))


def test_an_interrupt_while_waiting_cancels_at_every_site_and_a_late_arrival_is_told(sites):
    waiting = [site.submit(CELL) for site in sites[:2]]
    for site, msg_id in zip(sites[:2], waiting):
        site.wait_for_output(msg_id, "smpc: waiting for", 30)
    sites[0].km.interrupt_kernel()
    interrupted, other = (site.collect(i, 30) for site, i in zip(sites[:2], waiting))
    assert not interrupted.ok and interrupted.ename == "CellInterrupted", interrupted.error
    # one clear line at the site that interrupted, not the library's traceback
    assert "you interrupted this cell" in interrupted.error and len(interrupted.traceback) <= 2, interrupted.traceback
    assert not other.ok and other.ename == "PeerAborted", other.error
    # told by site_a's abort (it names the interrupt), not by the session's timeout
    assert "'site_a' stopped before the sites agreed" in other.error and "interrupted" in other.error
    late = sites[2].run(CELL, timeout=30)  # comes after the others gave up: told at once, no hang
    assert not late.ok and late.ename == "PeerAborted" and "stopped before the sites agreed" in late.error
    again = run_all(sites, CELL)  # nothing was shared; the kernels are usable
    assert all(r.ok for r in again), [r.error for r in again]


def test_a_site_that_cannot_take_part_withdraws_at_once(sites):
    sites[1].run("del x")  # still marked private at site_b, no longer defined
    results = run_all(sites, CELL, timeout=30)
    assert results[1].ename == "CellError" and "marked private but is not defined" in results[1].error
    for r in (results[0], results[2]):
        # told by site_b's withdrawal (it names the error), not by the timeout
        assert not r.ok and r.ename == "PeerAborted" and "'site_b'" in r.error and "CellError" in r.error
    sites[1].run("x = np.arange(1, 5.0)")
    assert all(r.ok for r in run_all(sites, CELL))


def test_the_same_error_at_every_site_is_each_sites_own(sites):
    results = run_all(sites, "%%smpc --reveal y\ny = x.sum()\nif y > 3:\n    y = y + 1", timeout=40)
    assert all(r.ename == "SecretValueError" for r in results), [r.error for r in results]
    assert all("line 2 of the cell" in r.error for r in results), [r.error for r in results]


def test_a_nan_is_refused_when_marked_not_when_a_cell_runs(sites):
    r = sites[0].run("bad = np.array([1.0, np.nan])\n%smpc private bad")
    assert not r.ok and r.ename == "EncodingError" and "'bad'" in r.error and "NaN" in r.error
    assert "bad" not in sites[0].run("%smpc private").text


def test_the_status_shows_round_trips_of_the_network_not_of_a_poll(sites):
    import re

    # wait until a ping to each peer has come back (the status lists one round trip per peer)
    shown = sites[0].run_until("%smpc status", lambda r: len(re.findall(r"round trip ([0-9.]+) ms", r.text)) >= 2)
    text = shown.text
    trips = [float(v) for v in re.findall(r"round trip ([0-9.]+) ms", text)]
    assert len(trips) >= 2, text
    # a ping's own round trip (about a millisecond on loopback, more on a loaded machine), not the
    # 1 s interval at which the status polls
    assert max(trips) < 1000, text


def test_an_interrupted_connect_is_one_line_and_frees_the_port(tmp_path):
    """Interrupting `%smpc connect` while the other sites are absent showed the library's
    traceback, and left this site's sockets bound, so connecting again could find its port taken."""
    from tests.e2e.kernels import Site

    session = new_session(NAMES, tmp_path, timeout=TIMEOUT)
    site = Site("site_a", tmp_path)
    try:
        assert site.run("%load_ext smpc_magic").ok
        connect = f"%smpc connect {session} --as site_a --timeout 120"
        pending = site.submit(connect)
        site.wait_for_output(pending, "waiting for", 60)
        site.km.interrupt_kernel()
        interrupted = site.collect(pending, 30)
        assert interrupted.ename == "CellInterrupted", interrupted.error
        assert "you interrupted `%smpc connect`" in interrupted.error and len(interrupted.traceback) <= 2
        again = site.submit(connect)  # binds the same port: it is free again
        site.wait_for_output(again, "waiting for", 60)
        site.km.interrupt_kernel()
        assert site.collect(again, 30).ename == "CellInterrupted"
    finally:
        site.close()
