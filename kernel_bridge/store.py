"""A party's on-disk stock of preprocessing material, and the cursor that makes it single-use.

Material comes in streams (one per kind and parameters, named by a string). A stream is cut by
the dealer into chunks with fixed start offsets; a party stores the chunks it received and a
cursor per stream. ``reserve`` writes the advanced cursor to disk (fsync, atomic rename) *before*
it returns any material, and deletes chunk files that fall wholly below the cursor, so a crash or
kernel restart can never hand out the same material twice.

The cursor on disk may run ahead of the one in memory: a reservation writes the end of the chunk
it draws from, so most draws need no disk write. After a restart the party starts from the
on-disk value, skipping (never reusing) what was reserved but not used.

The store holds opaque payloads (a seed and named arrays); turning them into shares is the
caller's job.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import BridgeError


@dataclass
class Chunk:
    stream: str
    chunk_id: int
    start: int
    length: int
    seed: bytes
    arrays: dict[str, np.ndarray]
    origin: str = ""  # which dealer state made it (its epoch): parties compare it

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass
class Piece:
    """``take`` elements of ``chunk`` from ``offset`` within it."""

    chunk: Chunk
    offset: int
    take: int


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class MaterialStore:
    """Chunks and cursors under one directory (one per party and session)."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._cursor_file = self.directory / "cursors.json"
        self._lock = threading.Lock()
        self._cursors: dict[str, int] = {}
        self._persisted: dict[str, int] = {}
        self._index: dict[str, list[tuple[int, int, Path]]] = {}
        self._loaded: dict[Path, Chunk] = {}
        if self._cursor_file.exists():
            try:
                self._persisted = {str(k): int(v) for k, v in json.loads(self._cursor_file.read_text()).items()}
                self._cursors = dict(self._persisted)
            except (ValueError, AttributeError):
                raise BridgeError(
                    f"the preprocessing cursor file {self._cursor_file} is damaged. Material may have been used; "
                    "delete the whole store directory (its material is then discarded) and run again."
                ) from None

    # ----- layout -------------------------------------------------------------------------------
    def _stream_dir(self, stream: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", stream)[:60]
        digest = hashlib.sha256(stream.encode()).hexdigest()[:10]
        return self.directory / f"{safe}-{digest}"

    def _chunk_files(self, stream: str) -> list[tuple[int, int, Path]]:
        """Stored chunks of a stream, sorted by start (indexed in memory after the first look)."""
        if stream not in self._index:
            folder = self._stream_dir(stream)
            out = []
            if folder.exists():
                for meta in folder.glob("*.json"):
                    start, length = (int(v) for v in meta.stem.split("-")[:2])
                    out.append((start, length, meta))
            self._index[stream] = sorted(out)
        return self._index[stream]

    # ----- cursors ------------------------------------------------------------------------------
    def cursors(self) -> dict[str, int]:
        with self._lock:
            return dict(self._cursors)

    def cursor(self, stream: str) -> int:
        with self._lock:
            return self._cursors.get(stream, 0)

    def _persist(self) -> None:
        _atomic_write(self._cursor_file, json.dumps(self._persisted, sort_keys=True).encode())

    def advance(self, positions: dict[str, int]) -> None:
        """Move cursors forward (never back) to at least ``positions``; persisted before returning."""
        with self._lock:
            changed = False
            for stream, pos in positions.items():
                if pos > self._cursors.get(stream, 0):
                    self._cursors[stream] = int(pos)
                if pos > self._persisted.get(stream, 0):
                    self._persisted[stream] = int(pos)
                    changed = True
            if changed:
                self._persist()
        for stream in positions:
            self._discard_below(stream, self.cursor(stream))

    # ----- chunks -------------------------------------------------------------------------------
    def add(
        self,
        stream: str,
        chunk_id: int,
        start: int,
        length: int,
        seed: bytes,
        arrays: dict[str, np.ndarray],
        origin: str,
    ) -> None:
        """Store one chunk of a stream (see :meth:`add_chunk`)."""
        self.add_chunk(Chunk(stream, chunk_id, start, length, seed, arrays, origin))

    def add_chunk(self, chunk: Chunk) -> None:
        """Store a chunk received from the dealer (ignored if wholly used already)."""
        if chunk.end <= self.cursor(chunk.stream):
            return
        folder = self._stream_dir(chunk.stream)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        stem = f"{chunk.start:020d}-{chunk.length}"
        for name, arr in chunk.arrays.items():
            if not re.fullmatch(r"[A-Za-z0-9_]+", name):
                raise BridgeError(f"bad component name {name!r}")
            np.save(folder / f"{stem}.{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)
        meta = {
            "stream": chunk.stream,
            "chunk_id": chunk.chunk_id,
            "seed": chunk.seed.hex(),
            "arrays": sorted(chunk.arrays),
            "origin": chunk.origin,
        }
        path = folder / f"{stem}.json"
        _atomic_write(path, json.dumps(meta).encode())
        with self._lock:
            entries = self._chunk_files(chunk.stream)
            if not any(p == path for _, _, p in entries):
                entries.append((chunk.start, chunk.length, path))
                entries.sort()

    def _load(self, stream: str, start: int, length: int, meta_path: Path) -> Chunk:
        if meta_path in self._loaded:
            return self._loaded[meta_path]
        meta = json.loads(meta_path.read_text())
        stem = meta_path.stem
        arrays = {
            name: np.load(meta_path.with_name(f"{stem}.{name}.npy"), mmap_mode="r", allow_pickle=False)
            for name in meta["arrays"]
        }
        chunk = Chunk(
            stream,
            int(meta["chunk_id"]),
            start,
            length,
            bytes.fromhex(meta["seed"]),
            arrays,
            str(meta.get("origin", "")),
        )
        self._loaded[meta_path] = chunk
        return chunk

    def available(self, stream: str) -> int:
        """Elements stored contiguously from the cursor."""
        pos = self.cursor(stream)
        end = pos
        for start, length, _ in self._chunk_files(stream):
            if start <= end < start + length:
                end = start + length
        return end - pos

    def stock(self) -> dict[str, int]:
        """Unused elements per stream (what ``%smpc status`` shows)."""
        streams = set(self.cursors())
        for folder in self.directory.iterdir() if self.directory.exists() else []:
            for meta in folder.glob("*.json") if folder.is_dir() else []:
                try:
                    streams.add(json.loads(meta.read_text())["stream"])
                except (ValueError, KeyError):
                    continue
        return {s: self.available(s) for s in sorted(streams)}

    def reserve(self, stream: str, count: int) -> list[Piece]:
        """Claim the next ``count`` elements: the cursor is on disk before the material is read."""
        with self._lock:
            start = self._cursors.get(stream, 0)
            pieces, pos = [], start
            for c_start, c_len, meta in self._chunk_files(stream):
                if pos >= start + count:
                    break
                if c_start <= pos < c_start + c_len:
                    take = min(c_start + c_len, start + count) - pos
                    pieces.append((c_start, c_len, meta, pos - c_start, take))
                    pos += take
            if pos < start + count:
                raise BridgeError(
                    f"not enough preprocessing material in stream {stream} (need {count}, have {pos - start})"
                )
            self._cursors[stream] = start + count
            if start + count > self._persisted.get(stream, 0):
                last_start, last_length = pieces[-1][0], pieces[-1][1]
                self._persisted[stream] = max(start + count, last_start + last_length)  # reserve the chunk
                self._persist()
            loaded = [Piece(self._load(stream, s, n, m), off, take) for s, n, m, off, take in pieces]
        return loaded

    def release(self, stream: str) -> None:
        """Delete chunk files wholly below the cursor (call after the reserved material was read)."""
        self._discard_below(stream, self.cursor(stream))

    def _discard_below(self, stream: str, cursor: int) -> None:
        with self._lock:
            entries = self._chunk_files(stream)
            used = [e for e in entries if e[0] + e[1] <= cursor]
            if not used:
                return
            self._index[stream] = [e for e in entries if e[0] + e[1] > cursor]
            for _, _, meta in used:
                self._loaded.pop(meta, None)
                for f in meta.parent.glob(f"{meta.stem}.*"):
                    f.unlink(missing_ok=True)
