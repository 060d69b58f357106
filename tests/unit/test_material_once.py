"""Preprocessing material is used at most once: across processes sharing a store, across
restarts, and at the dealer, which never serves a range twice. Files holding material or keys
are owner-only."""

import multiprocessing
import os
import stat

import numpy as np
import pytest

from kernel_bridge.errors import BridgeError, SessionFileError
from kernel_bridge.keys import generate_keypair, load_keypair, write_keypair
from kernel_bridge.store import Chunk, MaterialStore
from smpc_magic.errors import PreprocessingError
from smpc_magic.protocols.additive.dealer import Dealer
from smpc_magic.protocols.additive.kinds import params_from_json
from smpc_magic.protocols.additive.source import DealerMaterial
from smpc_magic.protocols.registry import get_suite

pytestmark = pytest.mark.timeout(120)


def _draw_many(directory: str, rounds: int, out: "multiprocessing.Queue", start: "multiprocessing.Barrier") -> None:
    store = MaterialStore(directory)
    got, conflicts = [], 0
    start.wait(30)
    for _ in range(rounds):
        try:
            for piece in store.reserve("mul", 7):
                got.append((piece.chunk.start + piece.offset, piece.take))
        except BridgeError as exc:
            if "not enough" in str(exc):
                break
            conflicts += 1
    out.put((got, conflicts))


def test_two_processes_on_one_store_never_draw_the_same_element(tmp_path):
    store = MaterialStore(tmp_path)
    for k in range(40):
        store.add_chunk(Chunk("mul", k, k * 50, 50, bytes(32), {"c": np.zeros(50, np.uint64)}))
    ctx = multiprocessing.get_context("spawn")
    out, start = ctx.Queue(), ctx.Barrier(2)
    procs = [ctx.Process(target=_draw_many, args=(str(tmp_path), 160, out, start)) for _ in range(2)]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(30)
    drawn = np.zeros(2000, dtype=int)
    for got, _ in results:
        for start, take in got:
            drawn[start : start + take] += 1
    assert drawn.max() == 1, "an element of material was handed out twice"
    assert all(got for got, _ in results), "both processes drew material"
    assert drawn.sum() > 1500


def test_a_process_never_moves_another_process_cursor_back(tmp_path):
    first, second = MaterialStore(tmp_path), MaterialStore(tmp_path)
    first.advance({"mul": 500})
    second.advance({"div:65536": 10})  # second never saw mul move: must not write mul back to 0
    assert MaterialStore(tmp_path).cursor("mul") == 500
    second.add_chunk(Chunk("mul", 0, 0, 1000, bytes(32), {"c": np.zeros(1000, np.uint64)}))
    with pytest.raises(BridgeError, match="another process"):
        second.reserve("mul", 10)  # its view says 0; the disk says another process is at 500
    (piece,) = second.reserve("mul", 10)
    assert piece.offset >= 500


def test_store_folders_and_files_are_owner_only_even_when_they_existed_wider(tmp_path):
    folder = tmp_path / "store"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    store = MaterialStore(folder)
    store.add_chunk(Chunk("mul", 0, 0, 10, bytes(32), {"c": np.zeros(10, np.uint64)}))
    store.advance({"mul": 1})
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    assert not list(folder.rglob("*.tmp"))


def test_key_files_with_wider_modes_are_refused_and_rewritten_owner_only(tmp_path):
    path = tmp_path / "a.key"
    write_keypair(path, generate_keypair(), "a")
    os.chmod(path, 0o644)
    with pytest.raises(SessionFileError, match="chmod 600"):
        load_keypair(path)
    write_keypair(path, generate_keypair(), "a")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    load_keypair(path)


# ----- the dealer -----------------------------------------------------------------------------
def test_the_dealer_never_serves_a_range_twice_even_after_a_restart(tmp_path):
    dealer = Dealer(3, tmp_path)
    kind, meta, arrays = dealer.handle(1, "fetch", {"kind": "mul", "params": [], "start": 0, "count": 10})
    assert kind == "material" and arrays
    again = Dealer(3, tmp_path)  # restarted from its records
    kind, meta, arrays = again.handle(1, "fetch", {"kind": "mul", "params": [], "start": 0, "count": 10})
    assert kind == "refused" and meta["served_to"] >= 10 and not arrays
    kind, _, _ = again.handle(2, "fetch", {"kind": "mul", "params": [], "start": 0, "count": 10})
    assert kind == "material"  # another party gets the same chunk once


def test_the_dealer_bounds_what_a_request_can_make_it_write_or_compute(tmp_path):
    dealer = Dealer(3, tmp_path)
    with pytest.raises(ValueError, match="beyond what was issued"):
        dealer.handle(0, "fetch", {"kind": "matmul", "params": [[2, 2], [2, 2]], "start": 10**12, "count": 1})
    with pytest.raises(ValueError, match="too large"):  # an outer product of two long vectors
        params_from_json("matmul", [[100_000, 1], [1, 100_000]])
    with pytest.raises(ValueError, match="too large"):
        dealer.handle(0, "fetch", {"kind": "matmul", "params": [[64, 64], [64, 64]], "start": 0, "count": 100_000})
    assert not (tmp_path / "chunks.jsonl").exists()


def _material(tmp_path, dealer, party):
    def request(kind, meta):
        kind, meta, arrays = dealer.handle(party, kind, meta)
        return meta, arrays

    return DealerMaterial(MaterialStore(tmp_path / f"store{party}"), party, request)


def test_a_peer_cursor_beyond_what_the_dealer_issued_is_refused_naming_the_peer(tmp_path):
    dealer = Dealer(2, tmp_path / "dealer")
    material = _material(tmp_path, dealer, 0)
    material.take("mul", (), 100)
    suite = get_suite("additive")
    stream = "mul"
    with pytest.raises(PreprocessingError, match="'b' reports using more"):
        suite.settle_rendezvous(material, {"a": {"cursors": {stream: 100}}, "b": {"cursors": {stream: 10**15}}})
    assert material.store.cursor(stream) == 100  # not poisoned
    suite.settle_rendezvous(material, {"a": {"cursors": {stream: 100}}, "b": {"cursors": {stream: 3000}}})
    assert material.store.cursor(stream) == 3000  # within what was issued: followed


def test_material_a_party_lost_is_skipped_never_served_again(tmp_path):
    dealer = Dealer(2, tmp_path / "dealer")
    material = _material(tmp_path, dealer, 1)
    material.ensure("mul", (), 10)
    lost = DealerMaterial(MaterialStore(tmp_path / "fresh-store"), 1, material.dealer)  # its store was replaced
    with pytest.raises(PreprocessingError, match="never serves material twice"):
        lost.take("mul", (), 10)
    assert lost.store.cursor("mul") >= 10
