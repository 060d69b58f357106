"""The fault matrix with real processes: a party stopped (SIGSTOP) and resumed, garbage and
replayed frames from an authenticated peer, a wrong session id, two processes with one party's
key, the dealer killed while parties fetch material, and a store that cannot be written.

Every case checks that each site gets a clear error naming a party and a step within the
timeout (no hang), that the session works again afterwards with fresh processes and the same
stores (what a restarted kernel does), that no material is reused (cursors only move forward),
and that no error text carries anything of an input.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time

import numpy as np
import pytest
import zmq

from kernel_bridge import framing
from kernel_bridge.keys import load_keypair
from kernel_bridge.session import load_session
from smpc_magic.launch.cluster import LocalCluster
from tests.integration.test_faults import LONG_CELL, X_RANGE, cell_job, wait_for_round, wait_status, write_inputs

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

#: An input value whose digits must never appear in an error message.
MARKER = 4242.125
TIMEOUT = 6.0


def start_all(cluster, code, reveal, *, names=None, computation=None, **extra_by_party):
    for name in names or cluster.names:
        inputs = write_inputs(cluster, name, x=np.full(20_000, MARKER if name == "a" else 1.0))
        cluster.start_party(name, cell_job(code, inputs, reveal, computation, **extra_by_party.get(name, {})))


def fresh_outputs(cluster):
    cluster.procs.clear()
    for name in cluster.names:
        for f in (cluster.directory / "jobs" / name / "out").glob("*"):
            f.unlink()


def cursors(cluster) -> dict[str, dict[str, int]]:
    out = {}
    for name in cluster.names:
        path = cluster.directory / "store" / name / "cursors.json"
        out[name] = json.loads(path.read_text()) if path.exists() else {}
    return out


def assert_no_input_in(statuses):
    for status in statuses.values():
        assert "4242" not in json.dumps(status), status


def assert_session_works_again(cluster, before: dict[str, dict[str, int]], lost_material_possible: bool = False):
    """Fresh processes on the same stores compute the right value, starting past every cursor.

    ``lost_material_possible``: the dealer may have recorded material as served whose reply never
    arrived (it was killed); the dealer never serves it again, so the first run may stop with a
    clear PreprocessingError at the sites that lack it while they move past it, and the next
    run must succeed."""
    statuses = _run_fresh(cluster)
    if lost_material_possible and not all(s["ok"] for s in statuses.values()):
        for status in statuses.values():
            assert status["ok"] or status["error_type"] in ("PreprocessingError", "PeerAborted"), status
        assert any("never serves material twice" in s.get("message", "") for s in statuses.values()), statuses
        statuses = _run_fresh(cluster)
    assert all(s["ok"] for s in statuses.values()), statuses
    values = np.load(cluster.directory / "jobs" / "a" / "out" / "values.npz")
    assert float(values["p"]) == pytest.approx(4.0 * 10 * len(cluster.names), abs=1e-3)
    for name, status in statuses.items():
        for stream, pos in before[name].items():
            assert status["cursors_start"].get(stream, 0) >= pos, (name, stream)


def _run_fresh(cluster) -> dict:
    fresh_outputs(cluster)
    for name in cluster.names:
        job = cell_job("p = (x * x).sum()", write_inputs(cluster, name, x=np.full(10, 2.0)), ["p"], None)
        cluster.start_party(name, job)
    return wait_status(cluster, cluster.names, 60)


def assert_clear_failures(statuses, *, names_party: str):
    for status in statuses.values():
        assert not status["ok"]
        assert f"'{names_party}'" in status["message"], status["message"]
        assert "step" in status["message"] or "could not reach" in status["message"], status["message"]
    assert_no_input_in(statuses)


def test_a_party_stopped_and_resumed_is_named_and_the_session_recovers(tmp_path):
    with LocalCluster(["a", "b", "c"], timeout=TIMEOUT, directory=str(tmp_path), ranges=X_RANGE) as cluster:
        cluster.start_dealer()
        progress = tmp_path / "progress-c"
        start_all(cluster, LONG_CELL, ["s"], c={"progress_path": str(progress)})
        wait_for_round(progress, 100, 60)
        victim = cluster.procs[2]
        victim.send_signal(signal.SIGSTOP)
        try:
            statuses = wait_status(cluster, ["a", "b"], 3 * TIMEOUT + 10)
            assert_clear_failures(statuses, names_party="c")
        finally:
            victim.send_signal(signal.SIGCONT)
        resumed = wait_status(cluster, ["c"], 2 * TIMEOUT + 10)["c"]
        # it learns the others gave up (or, if it was fetching material, that its round failed)
        assert not resumed["ok"]
        assert resumed["error_type"] in ("PeerAborted", "PeerTimeout", "PeerDisconnected", "PreprocessingError")
        assert "'" in resumed["message"]  # names a party or the dealer
        assert_no_input_in({"c": resumed})
        assert_session_works_again(cluster, cursors(cluster))


def _as_party(config, name: str, ctx: zmq.Context) -> dict[str, zmq.Socket]:
    """PUSH sockets to every other party and a DEALER to the dealer, authenticated as ``name``."""
    keys = load_keypair(config.default_key_path(name))
    out = {}
    for peer in [p for p in config.parties if p.name != name] + [config.dealer]:
        kind = zmq.DEALER if peer is config.dealer else zmq.PUSH
        sock = ctx.socket(kind)
        sock.linger = 0
        sock.curve_secretkey, sock.curve_publickey = keys.secret.encode(), keys.public.encode()
        sock.curve_serverkey = peer.public_key.encode()
        sock.connect(peer.address)
        out[peer.name] = sock
    return out


def _garbage(config) -> list[list[bytes]]:
    header = framing.Header(config.session_id, "data", "rendezvous", 0, "agree on the cell", {"nonce": "0" * 32})
    good = [bytes(f) for f in framing.encode(header, [np.arange(4, dtype=np.uint64)])]
    wrong_session = [bytes(f) for f in framing.encode(framing.Header("another-session", "fetch", "", 0, "x"), [])]
    deep = b'{"v":1,"meta":' + b"[" * 5000 + b"]" * 5000 + b"}"
    return [
        [b"\x80\x04pickle"],
        [deep],
        [good[0][:-5]],
        [good[0], b"short"],
        [json.dumps({"v": 1, "session": config.session_id, "kind": "fetch", "arrays": [[{"a": 1}, [4]]]}).encode()],
        wrong_session,
        [os.urandom(64) for _ in range(3)],
    ]


def test_garbage_and_a_wrong_session_from_an_authenticated_peer_harm_no_one(tmp_path):
    with LocalCluster(["a", "b", "c"], timeout=20, directory=str(tmp_path), ranges=X_RANGE) as cluster:
        cluster.start_dealer()
        config = load_session(cluster.session_path)
        start_all(cluster, "s = (x * x).sum()", ["s"], names=["a", "b"])
        ctx = zmq.Context()
        try:
            sockets = _as_party(config, "c", ctx)  # the test holds c's key: an authenticated peer
            time.sleep(0.5)
            for _ in range(20):
                for frames in _garbage(config):
                    for sock in sockets.values():
                        sock.send_multipart(frames, flags=zmq.NOBLOCK) if sock.poll(50, zmq.POLLOUT) else None
            time.sleep(0.5)
        finally:
            ctx.destroy(linger=0)
        assert cluster.dealer_failure() is None  # the dealer survived every frame
        for proc in cluster.procs:
            assert proc.poll() is None  # the parties too, and still wait for c
        start_all(cluster, "s = (x * x).sum()", ["s"], names=["c"])
        statuses = wait_status(cluster, cluster.names, 60)
        assert all(s["ok"] for s in statuses.values()), statuses
        values = np.load(tmp_path / "jobs" / "b" / "out" / "values.npz")
        assert float(values["s"]) == pytest.approx(20_000 * (MARKER**2 + 2), rel=1e-6)


def test_frames_replayed_from_an_earlier_computation_are_not_used(tmp_path):
    with LocalCluster(["a", "b", "c"], timeout=TIMEOUT, directory=str(tmp_path), ranges=X_RANGE) as cluster:
        cluster.start_dealer()
        recorded = tmp_path / "a-received.bin"
        start_all(cluster, "s = (x * x).sum()", ["s"], a={"record_path": str(recorded)})
        first = wait_status(cluster, cluster.names, 60)
        assert all(s["ok"] for s in first.values())
        fresh_outputs(cluster)
        # the same cell again, at a and b only; "c" (the test, with c's key) replays what a
        # received in the first computation, data rounds included
        start_all(cluster, "s = (x * x).sum()", ["s"], names=["a", "b"])
        config = load_session(cluster.session_path)
        ctx = zmq.Context()
        try:
            push = _as_party(config, "c", ctx)["a"]
            replay = framing.read_record(recorded.read_bytes())
            assert len(replay) > 3
            time.sleep(0.5)
            for frames in replay:
                if framing.decode(frames, config.session_id)[0].computation != "rendezvous":
                    push.send_multipart(frames)
            statuses = wait_status(cluster, ["a", "b"], 3 * TIMEOUT + 10)
        finally:
            ctx.destroy(linger=0)
        assert_clear_failures(statuses, names_party="c")
        assert_session_works_again(cluster, cursors(cluster))


def test_two_processes_with_the_same_party_key_never_give_a_wrong_result(tmp_path):
    with LocalCluster(["a", "b", "c"], timeout=TIMEOUT, directory=str(tmp_path), ranges=X_RANGE) as cluster:
        cluster.start_dealer()
        start_all(cluster, "s = (x * x).sum()", ["s"])
        twin = write_inputs(cluster, "twin", x=np.full(20_000, 3.0))
        job_dir = tmp_path / "jobs" / "c-twin"
        job = {**cell_job("s = (x * x).sum()", twin, ["s"], None), "session": str(cluster.session_path)}
        job.update({"party": "c", "out_dir": str(job_dir / "out")})
        job_dir.mkdir(parents=True)
        (job_dir / "job.json").write_text(json.dumps(job))
        import subprocess
        import sys

        from smpc_magic.launch.cluster import child_env

        twin_proc = subprocess.Popen(
            [sys.executable, "-m", "smpc_magic.launch.worker", str(job_dir / "job.json")], env=child_env()
        )
        try:
            statuses = wait_status(cluster, cluster.names, 3 * TIMEOUT + 30)
            twin_proc.wait(3 * TIMEOUT + 30)
        finally:
            if twin_proc.poll() is None:
                twin_proc.kill()
        twin_status = json.loads((job_dir / "out" / "status.json").read_text())
        everyone = {**statuses, "c-twin": twin_status}
        right = {20_000 * (MARKER**2 + 2), 20_000 * (MARKER**2 + 1 + 9)}  # with c's or the twin's rows
        for name, status in everyone.items():
            if status["ok"] and status.get("received"):
                out = tmp_path / "jobs" / name / "out" / "values.npz"
                value = float(np.load(out)["s"])
                assert any(abs(value - r) < 1e-6 * r for r in right), (name, value)
            elif not status["ok"]:
                assert "'" in status["message"]  # names a party
        assert_no_input_in(everyone)
        assert_session_works_again(cluster, cursors(cluster))


def test_the_dealer_killed_while_parties_fetch_material(tmp_path):
    with LocalCluster(["a", "b", "c"], timeout=TIMEOUT, directory=str(tmp_path), ranges=X_RANGE) as cluster:
        cluster.start_dealer()
        progress = tmp_path / "progress-a"
        start_all(cluster, LONG_CELL, ["s"], a={"progress_path": str(progress)})
        wait_for_round(progress, 100, 60)
        cluster.dealer.kill()
        statuses = wait_status(cluster, cluster.names, 3 * TIMEOUT + 10)
        assert all(not s["ok"] for s in statuses.values())
        assert any("dealer" in s["message"] for s in statuses.values()), statuses
        assert_no_input_in(statuses)
        cluster.dealer.wait(5)
        cluster.start_dealer()  # restarted from its records: it serves nothing twice
        assert_session_works_again(cluster, cursors(cluster), lost_material_possible=True)


def test_a_store_that_cannot_be_written_is_a_clear_error(tmp_path):
    with LocalCluster(["a", "b", "c"], timeout=TIMEOUT, directory=str(tmp_path), ranges=X_RANGE) as cluster:
        cluster.start_dealer()
        store_c = tmp_path / "store" / "c"
        store_c.mkdir(parents=True)
        (store_c / "cursors.json").mkdir()  # no file can be written where the cursors go
        start_all(cluster, "s = (x * x).sum()", ["s"])
        statuses = wait_status(cluster, cluster.names, 3 * TIMEOUT + 10)
        assert not statuses["c"]["ok"]
        assert "material store" in statuses["c"]["message"] and "check" in statuses["c"]["message"]
        for name in ("a", "b"):
            assert not statuses[name]["ok"] and "'c'" in statuses[name]["message"]
        assert_no_input_in(statuses)
        shutil.rmtree(store_c)
        assert_session_works_again(cluster, cursors(cluster))
