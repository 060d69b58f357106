"""The emulated wide-area links used by `smpc bench --network`: a real TCP proxy adds the round
trip and limits the rate, and parties in separate processes run through it over CurveZMQ."""

import os
import socket
import threading
import time

import pytest

from smpc_magic.errors import SmpcError
from smpc_magic.launch.netem import DelayProxy, NetworkSpec

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_network_specs_read_like_tc():
    assert NetworkSpec.parse("rtt=40ms,rate=100mbit") == NetworkSpec(0.04, 100e6 / 8)
    assert NetworkSpec.parse("rate=1gbit, rtt=0.5s") == NetworkSpec(0.5, 1e9 / 8)
    assert NetworkSpec.parse("rtt=20") == NetworkSpec(0.02, 0.0)
    for bad in ("rtt=fast", "latency=4ms", "rate=3furlongs"):
        with pytest.raises(SmpcError, match="rtt=40ms,rate=100mbit"):
            NetworkSpec.parse(bad)


@pytest.fixture
def echo_port():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def echo():
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(1 << 16):
                conn.sendall(data)

    threading.Thread(target=echo, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def test_the_proxy_adds_the_round_trip_and_limits_the_rate(echo_port):
    with DelayProxy(NetworkSpec.parse("rtt=60ms,rate=8mbit")) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.forward("127.0.0.1", echo_port))) as conn:
            started = time.monotonic()
            conn.sendall(b"x")
            assert conn.recv(1) == b"x"
            assert time.monotonic() - started >= 0.06  # (a lower bound: load only adds time)
            payload = b"y" * 500_000  # 4 Mbit: half a second each way at 8 Mbit/s, pipelined
            started = time.monotonic()
            conn.sendall(payload)
            got = 0
            while got < len(payload):
                got += len(conn.recv(1 << 20))
            assert time.monotonic() - started >= 0.5


def test_a_bench_row_across_emulated_links_pays_the_round_trip_per_round():
    from smpc_magic.cli.bench import run_bench

    rtt = 0.03
    [row] = run_bench([3], [("mul", 1000)], repeats=1, timeout=120, network=NetworkSpec(rtt, 0.0))
    assert row["rounds"] >= 1
    # every round of an all-to-all exchange waits at least for one crossing of the link (rtt / 2)
    assert row["seconds_min"] >= 0.9 * (rtt / 2) * row["rounds"]
    [local] = run_bench([3], [("mul", 1000)], repeats=1, timeout=120)
    assert local["rounds"] == row["rounds"] and local["seconds_min"] < row["seconds_min"]
    assert 10 < local["peak_mb_per_party"] < 4000  # each party's peak memory is reported


def test_simulate_across_emulated_links_gives_the_same_result_later():
    import numpy as np

    from smpc_magic import simulate

    inputs = {"a": {"x": np.arange(4.0)}, "b": {"x": np.arange(4.0, 8.0)}, "c": {"x": np.arange(8.0, 12.0)}}
    timings = []
    for network in (None, "rtt=600ms"):
        started = time.monotonic()
        got = simulate("s = (x * x).sum()", inputs, "s", ranges={"x": (0, 20)}, network=network)
        timings.append(time.monotonic() - started)
        assert got["s"] == float((np.arange(12.0) ** 2).sum())
    # the agreement and the product's rounds each crossed the 600 ms link at least once
    assert timings[1] - timings[0] > 0.6, timings


def test_as_root_the_parties_run_in_network_namespaces_with_kernel_rate_limits():
    """CI runs as root: each party and the dealer get a namespace and address of their own, the
    rate is a tbf limit on each site's link, and everything is removed afterwards."""
    import subprocess

    from smpc_magic.cli.bench import run_bench
    from smpc_magic.launch.cluster import LocalCluster
    from smpc_magic.launch.netns import namespaces_available, remove_stale

    if not namespaces_available():
        pytest.skip("network namespaces need root (CI runs as root); the proxy on loopback is tested above")
    with LocalCluster(["a", "b"], network=NetworkSpec.parse("rtt=10ms,rate=20mbit")) as cluster:
        assert cluster.isolation == "network namespaces"
        names = [cluster._netns.namespace(p) for p in ("a", "b", "dealer")]
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert all(n in listed for n in names)
        assert cluster._netns.address("a") != cluster._netns.address("b")
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(n in listed for n in names)
    # namespaces left by a killed emulation (its process is gone) are removed by the next one
    dead = next(pid for pid in range(4_000_000, 4_100_000) if not os.path.exists(f"/proc/{pid}"))
    subprocess.run(["ip", "netns", "add", f"smpc-{dead}-beef-0"], check=True)
    remove_stale()
    assert f"smpc-{dead}-beef-0" not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    # 10^5 products send about 2.4 MB per party: at 20 Mbit/s per site link that takes about 1 s
    [row] = run_bench([2], [("mul", 100_000)], repeats=1, timeout=120, network=NetworkSpec.parse("rtt=2ms,rate=20mbit"))
    assert row["seconds_min"] >= 0.8 * row["mb_sent_per_party"] * 8 / 20, row
