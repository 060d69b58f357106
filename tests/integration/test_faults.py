"""Faults with real processes: a party that never connects, a stranger's key, a party killed
mid-computation, restarts, and what a curious party receives."""

import json
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from kernel_bridge.keys import generate_keypair, load_keypair
from kernel_bridge.mesh import Mesh
from kernel_bridge.session import load_session
from smpc_magic import simulate
from smpc_magic.launch.cluster import LocalCluster
from smpc_magic.protocols.additive.ring import encode

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

# every party declares x in [0, 5000], so each product and the sum provably fit the ring
X_RANGE = {"x": (0.0, 5000.0)}
LONG_CELL = "acc = x * 0\nfor i in range(3000):\n    acc = acc + x * x\ns = acc.sum()"


def cell_job(code, inputs_path, reveal, computation="c1", **extra):
    return {
        "mode": "cell",
        "code": code,
        "inputs": str(inputs_path),
        "public": None,
        "reveal": reveal,
        "to": None,
        "computation": computation,
        **extra,
    }


def write_inputs(cluster, name, **values):
    path = cluster.directory / f"in-{name}.npz"
    np.savez(path, **values)
    return path


def wait_status(cluster, names, deadline_s):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        statuses = {n: cluster.result(n)[0] for n in names}
        if all(statuses.values()):
            return statuses
        time.sleep(0.1)
    raise AssertionError(f"no result within {deadline_s} s: {statuses}")


def test_a_party_that_never_connects_is_named():
    with LocalCluster(["a", "b", "c"], timeout=3, ranges=X_RANGE) as cluster:
        cluster.start_dealer()
        for name in ["a", "b"]:
            cluster.start_party(name, cell_job("s = x.sum()", write_inputs(cluster, name, x=np.ones(3)), ["s"]))
        statuses = wait_status(cluster, ["a", "b"], 30)  # the parties' own 3 s timeout, not this wait
        for status in statuses.values():
            assert not status["ok"] and status["error_type"] == "PeerTimeout"
            assert "'c'" in status["message"] and "could not reach" in status["message"]


def test_a_key_not_in_the_session_cannot_connect_and_receives_nothing():
    with LocalCluster(["a", "b"], timeout=5, ranges=X_RANGE) as cluster:
        cluster.start_dealer()
        config = load_session(cluster.session_path)
        mesh = Mesh(config, "a", load_keypair(cluster.directory / "keys" / "a.key"))
        stranger = generate_keypair()
        ctx = zmq.Context()
        try:
            # the stranger pushes to party a, pretending to know a's public key
            push = ctx.socket(zmq.PUSH)
            push.linger = 0
            push.curve_secretkey, push.curve_publickey = stranger.secret.encode(), stranger.public.encode()
            push.curve_serverkey = config.parties[0].public_key.encode()
            monitor = push.get_monitor_socket()
            push.connect(config.parties[0].address)
            push.send_multipart([b'{"v":1}', b"x" * 64], flags=zmq.NOBLOCK) if push.poll(100, zmq.POLLOUT) else None
            # and asks the dealer for material
            req = ctx.socket(zmq.DEALER)
            req.linger = 0
            req.curve_secretkey, req.curve_publickey = stranger.secret.encode(), stranger.public.encode()
            req.curve_serverkey = config.dealer.public_key.encode()
            req.connect(config.dealer.address)
            req.send_multipart(
                [
                    json.dumps(
                        {
                            "v": 1,
                            "session": config.session_id,
                            "kind": "fetch",
                            "computation": "",
                            "step": 0,
                            "label": "",
                            "meta": {"kind": "mul", "params": [], "start": 0, "count": 10, "request": "r"},
                            "arrays": [],
                        }
                    ).encode()
                ]
            )
            deadline = time.monotonic() + 3
            events = []
            while time.monotonic() < deadline:
                mesh._poll_once(0.1)
                while monitor.poll(0):
                    events.append(zmq.utils.monitor.recv_monitor_message(monitor)["event"])
            assert mesh.stats.messages_received == 0
            assert req.poll(500) == 0  # the dealer said nothing
            assert zmq.EVENT_HANDSHAKE_SUCCEEDED not in events
            assert any(
                e in events
                for e in (zmq.EVENT_HANDSHAKE_FAILED_AUTH, zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, zmq.EVENT_DISCONNECTED)
            )
        finally:
            ctx.destroy(linger=0)
            mesh.close()


def wait_for_round(progress: Path, at_least: int, deadline_s: float) -> None:
    """Wait until a party's progress file (written by its on_round hook) reaches ``at_least``."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if progress.exists() and int(progress.read_text().split()[0]) >= at_least:
            return
        time.sleep(0.02)
    raise AssertionError(f"the computation did not reach round {at_least} within {deadline_s} s")


def run_and_kill(cluster, victim):
    """Start LONG_CELL at every party and kill ``victim`` once it is well into the computation."""
    names = cluster.names
    progress = cluster.directory / f"progress-{victim}"
    for name in names:
        extra = {"progress_path": str(progress)} if name == victim else {}
        cluster.start_party(name, cell_job(LONG_CELL, write_inputs(cluster, name, x=np.ones(20_000)), ["s"], **extra))
    wait_for_round(progress, 200, 60)
    proc = cluster.procs[names.index(victim)]
    assert proc.poll() is None, "the computation finished before the kill; make LONG_CELL longer"
    proc.kill()
    survivors = [n for n in names if n != victim]
    return wait_status(cluster, survivors, 40)


def test_a_party_killed_mid_computation_is_named_at_the_others():
    with LocalCluster(["a", "b", "c"], timeout=30, ranges=X_RANGE) as cluster:
        cluster.start_dealer()
        statuses = run_and_kill(cluster, "c")
        for status in statuses.values():
            assert not status["ok"]
            # the dropped connection is noticed (not the 30 s timeout: that would be PeerTimeout)
            assert status["error_type"] in ("PeerDisconnected", "PeerAborted")
            assert "'c'" in status["message"]


def test_restart_after_a_crash_never_reuses_material(tmp_path):
    with LocalCluster(["a", "b", "c"], timeout=30, directory=str(tmp_path), ranges=X_RANGE) as cluster:
        cluster.start_dealer()
        run_and_kill(cluster, "b")
        cluster.procs.clear()
        used = {}
        for name in cluster.names:  # what each store had claimed when the crash happened
            for stream, pos in json.loads((tmp_path / "store" / name / "cursors.json").read_text()).items():
                used[stream] = max(used.get(stream, 0), pos)
        assert used.get("mul", 0) > 0
        for name in cluster.names:  # fresh processes, same stores
            job_dir = tmp_path / "jobs" / name / "out"
            for f in job_dir.glob("*"):
                f.unlink()
            cluster.start_party(
                name,
                cell_job("p = (x * x).sum()", write_inputs(cluster, name, x=np.full(10, 2.0)), ["p"], computation="c2"),
            )
        statuses = wait_status(cluster, cluster.names, 60)
        for status in statuses.values():
            assert status["ok"], status
            for stream, pos in used.items():
                assert status["cursors_start"].get(stream, 0) >= pos  # started beyond anything claimed before
        values = np.load(tmp_path / "jobs" / "a" / "out" / "values.npz")
        assert float(values["p"]) == pytest.approx(4.0 * 30, abs=1e-3)


def test_a_curious_party_never_receives_another_partys_encoded_input(tmp_path):
    a = np.round(np.random.default_rng(1).normal(70, 15, 3000), 3)
    b = np.round(np.random.default_rng(2).normal(30, 5, 3000), 3)
    simulate(
        "m = (a * b).mean()\nt = a.sum() + b.sum()",
        {"a": {"a": a}, "b": {"b": b}, "c": {}},
        "m t",
        ranges={"a": (0, 200), "b": (0, 100)},
        _record_dir=str(tmp_path),
    )
    words = {
        "a": set(encode(a, 16)[0].tobytes()[i : i + 8] for i in range(0, a.size * 8, 8)),
        "b": set(encode(b, 16)[0].tobytes()[i : i + 8] for i in range(0, b.size * 8, 8)),
    }
    for party in ["a", "b", "c"]:
        received = Path(tmp_path / f"{party}.bin").read_bytes()
        assert len(received) > 3000 * 8  # the multiplication's masked values really were received
        for owner, owner_words in words.items():
            if owner == party:
                continue
            seen = {received[i : i + 8] for i in range(0, len(received) - 7)}
            assert not (owner_words & seen), f"party {party} received an encoded input word of {owner}"


def test_material_from_a_lost_dealer_state_is_caught_not_used(tmp_path):
    """A dealer restarted without its records issues new material; a party still holding the old
    dealer's chunks must not silently combine them with its peers' new ones."""
    import shutil

    from smpc_magic.engine.party import Party
    from smpc_magic.protocols.base import MaterialNeed

    with LocalCluster(["a", "b", "c"], timeout=20, directory=str(tmp_path), ranges=X_RANGE) as cluster:
        cluster.start_dealer()
        lonely = Party(cluster.session_path, "a")
        lonely.mesh = Mesh(lonely.config, "a", lonely.keys)
        lonely.preprocess([MaterialNeed("mul", (), 20_000)])  # only site a stocks up from the first dealer
        lonely.close()
        cluster.dealer.terminate()
        cluster.dealer.wait(10)
        shutil.rmtree(tmp_path / "dealer-state")  # the dealer's records are lost
        cluster.start_dealer()
        for name in cluster.names:
            cluster.start_party(
                name, cell_job("p = (x * x).sum()", write_inputs(cluster, name, x=np.full(10, 2.0)), ["p"])
            )
        statuses = wait_status(cluster, cluster.names, 60)
        assert not any(s["ok"] for s in statuses.values())
        assert any(
            s["error_type"] == "PreprocessingError" and "different preprocessing material" in s["message"]
            for s in statuses.values()
        )


def test_an_input_one_site_cannot_encode_stops_every_site_naming_it(tmp_path):
    with LocalCluster(["a", "b", "c"], timeout=20, directory=str(tmp_path)) as cluster:
        cluster.start_dealer()
        for name in cluster.names:
            x = np.array([1.0, np.nan]) if name == "b" else np.ones(2)
            cluster.start_party(name, cell_job("s = x.sum()", write_inputs(cluster, name, x=x), ["s"], None))
        statuses = wait_status(cluster, cluster.names, 30)
    assert statuses["b"]["error_type"] == "EncodingError" and "NaN" in statuses["b"]["message"]
    for name in ("a", "c"):
        status = statuses[name]
        assert status["error_type"] == "EncodingError", status
        assert "'b'" in status["message"] and "nothing was shared" in status["message"], status
