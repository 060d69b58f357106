"""kernel_bridge pieces that need no sockets: framing checks, the store's single-use cursor,
session and key files."""

import json
import os

import numpy as np
import pytest

from kernel_bridge import framing
from kernel_bridge.errors import BridgeError, FrameError, SessionFileError
from kernel_bridge.keys import load_keypair
from kernel_bridge.session import load_session, new_session
from kernel_bridge.store import Chunk, MaterialStore

pytestmark = pytest.mark.timeout(60)


def _frames(header, arrays):
    return [bytes(f) for f in framing.encode(header, arrays)]


def test_frames_roundtrip_and_checks():
    arr = np.arange(6, dtype=np.uint64).reshape(2, 3)
    frames = _frames(framing.Header("S", "data", "c1", 4, "beaver multiply"), [arr])
    header, arrays = framing.decode(frames, "S")
    assert (header.kind, header.computation, header.step, header.label) == ("data", "c1", 4, "beaver multiply")
    np.testing.assert_array_equal(arrays[0], arr)
    with pytest.raises(FrameError, match="another session"):
        framing.decode(frames, "OTHER")
    with pytest.raises(FrameError, match="bytes"):
        framing.decode([frames[0], frames[1][:-8]], "S")
    with pytest.raises(FrameError, match="number of array frames"):
        framing.decode(frames[:1], "S")
    with pytest.raises(FrameError, match="JSON"):
        framing.decode([b"\x80\x03pickle", frames[1]], "S")
    doc = json.loads(frames[0])
    doc["arrays"][0][0] = "object"
    with pytest.raises(FrameError, match="forbidden dtype"):
        framing.decode([json.dumps(doc).encode(), frames[1]], "S")
    doc["arrays"][0] = ["uint64", [-1, 3]]
    with pytest.raises(FrameError, match="shape"):
        framing.decode([json.dumps(doc).encode(), frames[1]], "S")
    with pytest.raises(FrameError):
        framing.encode(framing.Header("S", "data"), [np.array(["text"])])


def _chunk(stream, start, length, value):
    return Chunk(stream, start // length, start, length, bytes(32), {"c": np.full(length, value, np.uint64)})


def test_store_cursor_is_persisted_before_material_is_read(tmp_path):
    store = MaterialStore(tmp_path)
    store.add_chunk(_chunk("mul", 0, 100, 1))
    store.add_chunk(_chunk("mul", 100, 100, 2))
    assert store.available("mul") == 200
    pieces = store.reserve("mul", 150)
    assert [(p.chunk.start, p.offset, p.take) for p in pieces] == [(0, 0, 100), (100, 0, 50)]
    # on disk before any material is read: at least the claimed 150 (the whole chunk is reserved)
    assert json.loads((tmp_path / "cursors.json").read_text())["mul"] == 200
    assert store.cursor("mul") == 150
    store.release("mul")
    (piece,) = store.reserve("mul", 50)  # the same process uses the rest of its reservation
    assert (piece.chunk.start, piece.offset, piece.take) == (100, 50, 50)
    store.release("mul")
    assert not [f for f in os.listdir(next(p for p in tmp_path.iterdir() if p.is_dir())) if not f.endswith(".tmp")]


def test_a_restarted_store_skips_everything_reserved_before(tmp_path):
    store = MaterialStore(tmp_path)
    store.add_chunk(_chunk("mul", 0, 100, 1))
    store.add_chunk(_chunk("mul", 100, 100, 2))
    store.add_chunk(_chunk("mul", 200, 100, 3))
    store.reserve("mul", 120)  # crash after claiming 120: elements 120..199 were reserved too
    again = MaterialStore(tmp_path)
    assert again.cursor("mul") == 200 and again.available("mul") == 100
    (piece,) = again.reserve("mul", 100)
    assert piece.chunk.start == 200
    with pytest.raises(BridgeError, match="not enough"):
        again.reserve("mul", 1)


def test_store_never_moves_cursor_back_and_ignores_used_chunks(tmp_path):
    store = MaterialStore(tmp_path)
    store.advance({"div:65536": 500})
    store.advance({"div:65536": 100})
    assert store.cursor("div:65536") == 500
    store.add_chunk(_chunk("div:65536", 0, 400, 1))  # wholly used: not stored
    assert store.available("div:65536") == 0


def test_damaged_cursor_file_is_an_error_not_a_reset(tmp_path):
    (tmp_path / "cursors.json").write_text("{not json")
    with pytest.raises(BridgeError, match="damaged"):
        MaterialStore(tmp_path)


def test_session_new_writes_a_valid_session_and_private_keys(tmp_path):
    path = new_session(["a", "b", "c"], tmp_path, timeout=12.5)
    config = load_session(path)
    assert config.names == ["a", "b", "c"] and config.dealer.name == "dealer" and config.timeout == 12.5
    assert len({p.address for p in config.parties} | {config.dealer.address}) == 4
    for name in ["a", "b", "c", "dealer"]:
        key_file = tmp_path / "keys" / f"{name}.key"
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        assert load_keypair(key_file).public in path.read_text()
    assert "secret" not in repr(load_keypair(tmp_path / "keys" / "a.key"))


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace('name = "b"', 'name = "a"'), "distinct"),
        (lambda t: t.replace("frac_bits = 16", "frac_bits = 70"), "frac_bits"),
        (lambda t: t.replace('protocol = "additive"', 'protocol = "no such!"'), "not a protocol name"),
        (lambda t: t.replace("tcp://", "http://", 1), "address"),
        (lambda t: t + "\n[[[broken", "TOML"),
    ],
)
def test_bad_session_files_are_refused_clearly(tmp_path, edit, message):
    path = new_session(["a", "b"], tmp_path)
    path.write_text(edit(path.read_text()))
    with pytest.raises(SessionFileError, match=message):
        load_session(path)


def test_aborts_keep_only_an_error_class_and_a_step_and_the_newest_are_remembered():
    from kernel_bridge.routing import MAX_ABORTS, Router

    router = Router(lobby="rendezvous")
    leaky = {"error": "EncodingError", "message": "largest magnitude 1234.5 in column 'age'"}
    router.record_abort(1, framing.Header("S", "abort", "c1", 0, "share the inputs", leaky))
    abort = router.abort_of("c1")
    assert abort is not None and abort.message == "EncodingError" and "1234" not in repr(abort)
    router.record_abort(1, framing.Header("S", "abort", "c2", 0, "x" * 500, {"error": "age was 1234.5"}))
    abort = router.abort_of("c2")
    assert abort is not None and abort.message == "an error" and abort.label == "unknown step"
    for k in range(MAX_ABORTS + 10):
        router.record_abort(2, framing.Header("S", "abort", f"late{k}", 0, "reveal", {"error": "PeerTimeout"}))
    assert router.abort_of(f"late{MAX_ABORTS + 9}") is not None  # a full table still records new aborts
    assert router.abort_of("c1") is None


def test_a_site_that_stopped_because_another_did_passes_on_the_first_sites_reason():
    """'b' stopped because 'a' used up its CPU time; 'c', hearing from 'b' first, still reads why
    'a' stopped (a race under load: otherwise 'c' only learnt that 'b' stopped). Only error class
    names travel; a cause that is not one is dropped."""
    from kernel_bridge.errors import peer_aborted
    from kernel_bridge.routing import Router

    at_b = peer_aborted("a", "run the cell", "CellLimitError", None)
    assert at_b.cause == "CellLimitError" and "cell_cpu_seconds" in str(at_b)
    router = Router(lobby="rendezvous")
    relayed = {"error": "PeerAborted", "peer": "a", "cause": at_b.cause}
    router.record_abort(1, framing.Header("S", "abort", "c1", 0, "run the cell", relayed))
    abort = router.abort_of("c1")
    assert abort is not None and abort.cause == "CellLimitError"
    at_c = peer_aborted("b", abort.label, abort.message, abort.peer, abort.cause)
    assert "because party 'a' stopped" in str(at_c) and "cell_cpu_seconds" in str(at_c), str(at_c)
    assert at_c.cause == "CellLimitError" and at_c.party == "b"
    router.record_abort(1, framing.Header("S", "abort", "c2", 0, "run the cell", {**relayed, "cause": "age 71"}))
    dropped = router.abort_of("c2")
    assert dropped is not None and dropped.cause is None


def test_a_session_never_gives_two_endpoints_the_same_port(tmp_path, monkeypatch):
    """Each port is free when chosen and stays free until bound: chosen twice, two endpoints of
    one session would collide (the cause of a rare CI failure: a party reached another party's
    socket where it expected the dealer)."""
    from kernel_bridge import session

    narrow = session.free_port
    low = _free_window(5)  # five ports for four endpoints: a pick must never repeat
    monkeypatch.setattr(session, "free_port", lambda host, exclude=None: narrow(host, low, low + 4, exclude))
    for k in range(20):
        config = load_session(new_session(["a", "b", "c"], tmp_path / str(k)))
        addresses = [p.address for p in config.parties] + [config.dealer.address]
        assert len(set(addresses)) == 4, addresses


def _free_window(size: int) -> int:
    """The first port of ``size`` consecutive ports that are all free on loopback now (a fixed
    window can be taken by another test's process and fail this test for the wrong reason)."""
    import random
    import socket

    for _ in range(200):
        low = random.randint(21000, 32000 - size)  # below the ephemeral range, as free_port
        sockets = []
        try:
            for port in range(low, low + size):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return low
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no window of free ports")


def test_a_peers_give_up_on_a_cell_is_remembered_until_its_next_attempt():
    from kernel_bridge.framing import Header
    from kernel_bridge.routing import Router

    router = Router(lobby="rendezvous")
    cell = "ab" * 32
    router.record_abort(
        1, Header("s", "abort", "rendezvous", 0, "agree on the cell", {"error": "KeyboardInterrupt", "cell": cell})
    )
    found = router.lobby_abort(1, within=60)
    assert found is not None and found.cell == cell and found.message == "KeyboardInterrupt"
    assert router.lobby_abort(2, within=60) is None and router.lobby_abort(1, within=-1) is None
    router.deliver(1, Header("s", "data", "rendezvous", 0, "agree on the cell", {}), [])  # a new attempt
    assert router.lobby_abort(1, within=60) is None
    # an abort of a computation under way, or free text as a cell digest, is not a give-up on a cell
    router.record_abort(2, Header("s", "abort", "c0ffee", 0, "reveal", {"error": "X", "cell": cell}))
    router.record_abort(2, Header("s", "abort", "rendezvous", 0, "agree", {"error": "X", "cell": "not a digest"}))
    assert router.lobby_abort(2, within=60) is None
