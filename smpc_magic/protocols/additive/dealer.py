"""The trusted dealer: makes correlated randomness and gives each party its shares.

It runs as its own process (``smpc dealer SESSION``, which binds this logic to
kernel_bridge's dealer service) and never sees any input. Streams are cut into chunks; each
chunk is derived from a fresh master seed that the dealer keeps (in its state directory) so that
the chunks of a stream stay the same for every party.

It never serves the same range twice: per party and stream it records (on disk, before
answering) the end of the last range it served, and refuses any request that starts below it.
A party that lost material it fetched (a crash before it was stored) is told how far its peers
may have used the stream and skips past it; material is lost, never reused. Requests are
bounded too: a stream grows by at most one request beyond what was issued, so no request can
make the dealer write or compute without end.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..base import Array
from ..prg import derive_seed
from .kinds import KINDS, MAX_ELEMENTS, PartyMaterial, deal, params_from_json, stream_key, unit_elements

MIN_FLAT_CHUNK = 4096


@dataclass
class _ChunkRecord:
    chunk_id: int
    start: int
    length: int
    master: bytes


class Dealer:
    """Dealer state: the chunks of every stream, persisted so restarts never re-issue material."""

    def __init__(self, n_parties: int, state_dir: str | os.PathLike[str]):
        self.n_parties = n_parties
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._log = self.state_dir / "chunks.jsonl"
        self._lock = threading.Lock()
        self.streams: dict[str, list[_ChunkRecord]] = {}
        self._served_log = self.state_dir / "served.jsonl"
        self.served: dict[tuple[int, str], int] = {}  # (party, stream) -> end of what it was given
        epoch_file = self.state_dir / "epoch"
        if not epoch_file.exists():
            epoch_file.write_text(secrets.token_hex(8))
        self.epoch = epoch_file.read_text().strip()
        if self._log.exists():
            for line in self._log.read_text().splitlines():
                rec = json.loads(line)
                self.streams.setdefault(rec["stream"], []).append(
                    _ChunkRecord(rec["chunk_id"], rec["start"], rec["length"], bytes.fromhex(rec["master"]))
                )

        if self._served_log.exists():
            for line in self._served_log.read_text().splitlines():
                rec = json.loads(line)
                key = (int(rec["party"]), str(rec["stream"]))
                self.served[key] = max(self.served.get(key, 0), int(rec["end"]))

    def issued(self, stream: str) -> int:
        """Where the issued part of a stream ends (0 for a stream never asked for)."""
        chunks = self.streams.get(stream)
        return chunks[-1].start + chunks[-1].length if chunks else 0

    def _record_served(self, party: int, stream: str, end: int) -> None:
        self.served[(party, stream)] = end
        _append_synced(self._served_log, [json.dumps({"party": party, "stream": stream, "end": end})])

    def _extend(self, stream: str, flat: bool, end: int) -> None:
        chunks = self.streams.setdefault(stream, [])
        have = chunks[-1].start + chunks[-1].length if chunks else 0
        lines = []
        while have < end:
            length = max(end - have, MIN_FLAT_CHUNK) if flat else 1
            rec = _ChunkRecord(len(chunks), have, length, secrets.token_bytes(32))
            chunks.append(rec)
            lines.append(
                json.dumps(
                    {
                        "stream": stream,
                        "chunk_id": rec.chunk_id,
                        "start": rec.start,
                        "length": rec.length,
                        "master": rec.master.hex(),
                    }
                )
            )
            have += length
        if lines:
            _append_synced(self._log, lines)

    def handle(self, party: int, kind: str, meta: dict[str, Any]) -> tuple[str, dict[str, Any], list[Array]]:
        """Answer one authenticated party's request: ``fetch`` material, or a ``ping``."""
        if kind == "ping":
            return "pong", {"epoch": self.epoch}, []
        if kind == "issued":
            streams = meta.get("streams")
            if not isinstance(streams, list) or len(streams) > 10_000 or not all(isinstance(s, str) for s in streams):
                raise ValueError("bad stream list")
            with self._lock:
                return "issued", {"ends": {s: self.issued(s) for s in streams}}, []
        if kind != "fetch":
            raise ValueError(f"unknown request {kind!r}")
        material = meta.get("kind")
        if not isinstance(material, str):
            raise ValueError("material request without a kind")
        params = params_from_json(material, meta.get("params"))
        raw_start, raw_count = meta.get("start"), meta.get("count")
        if not _is_int(raw_start) or not _is_int(raw_count):
            raise ValueError("bad range in material request")
        start, count = int(raw_start), int(raw_count)  # type: ignore[arg-type]
        if start < 0 or not 0 < count <= MAX_ELEMENTS:
            raise ValueError("bad range in material request")
        stream = stream_key(material, params)
        flat = KINDS[material].flat
        if not flat and count * unit_elements(material, params) > MAX_ELEMENTS:
            raise ValueError("material request too large")
        with self._lock:
            served = self.served.get((party, stream), 0)
            if start < served:  # asked again for material it was given: never serve it twice
                return "refused", {"refused": True, "stream": stream, "served_to": served, "epoch": self.epoch}, []
            if start > self.issued(stream):
                raise ValueError("material request beyond what was issued")
            self._extend(stream, flat, start + count)
            wanted = [c for c in self.streams[stream] if c.start + c.length > start and c.start < start + count]
            self._record_served(party, stream, max(c.start + c.length for c in wanted))
        described, out = [], []
        for rec in wanted:
            if party == 0:  # party 0 holds the corrections; everyone else needs only a seed
                mine = deal(material, params, rec.length if flat else 1, rec.master, self.n_parties)[0]
            else:
                mine = PartyMaterial(derive_seed(rec.master, party), {})
            names = sorted(mine.corrections)
            described.append({"chunk_id": rec.chunk_id, "start": rec.start, "length": rec.length, "arrays": names})
            out.append(np.frombuffer(mine.seed, dtype=np.uint8))
            out.extend(np.ascontiguousarray(mine.corrections[n]) for n in names)
        return "material", {"stream": stream, "epoch": self.epoch, "chunks": described}, out


def _append_synced(path: Path, lines: list[str]) -> None:
    """Append records and fsync before the caller answers anyone."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, ("\n".join(lines) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
