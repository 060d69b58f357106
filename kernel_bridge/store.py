"""A party's on-disk stock of preprocessing material, and the cursor that makes it single-use.

Material comes in streams (one per kind and parameters, named by a string). A stream is cut by
the dealer into chunks with fixed start offsets; a party stores the chunks it received and a
cursor per stream. ``reserve`` writes the advanced cursor to disk (fsync, atomic rename) *before*
it returns any material, and deletes chunk files that fall wholly below the cursor, so a crash or
kernel restart can never hand out the same material twice.

The cursor on disk may run ahead of the one in memory: a reservation writes the end of the chunk
it draws from, so most draws need no disk write. After a restart the party starts from the
on-disk value, skipping (never reusing) what was reserved but not used.

Several processes may open one store (two kernels of the same site, a benchmark): every
cursor change happens under a cross-process file lock, merges with what is on disk (per
stream, never moving another process's progress back), and a process only ever draws from a
range it reserved itself on disk first. A range another process reserved is never drawn from.

The store holds opaque payloads (a seed and named arrays); turning them into shares is the
caller's job.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from .errors import BridgeError
from .files import atomic_write, open_private, private_dir


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


#: How long to wait for another process holding the store's lock.
STORE_LOCK_TIMEOUT_S = 30.0


class MaterialStore:
    """Chunks and cursors under one directory (one per party and session)."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = private_dir(directory)
        self._cursor_file = self.directory / "cursors.json"
        self._lock = threading.RLock()
        self._file_lock = FileLock(str(self.directory / ".lock"), timeout=STORE_LOCK_TIMEOUT_S, mode=0o600)
        self._index: dict[str, list[tuple[int, int, Path]]] = {}
        self._loaded: dict[Path, Chunk] = {}
        with self._exclusive():
            #: per stream, the end of what this process reserved on disk ([cursor, end) is its own)
            self._persisted: dict[str, int] = self._read_disk()
        self._cursors: dict[str, int] = dict(self._persisted)

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """This thread and no other process touches the cursors on disk inside the block."""
        with self._lock:
            try:
                self._file_lock.acquire()
            except Timeout:
                raise BridgeError(
                    f"another process has held the material store {self.directory} for "
                    f"{STORE_LOCK_TIMEOUT_S:.0f} s; close the other kernel of this site and run again"
                ) from None
            try:
                yield
            finally:
                self._file_lock.release()

    @contextlib.contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """An OS error while writing the store becomes an error that says what to check."""
        try:
            yield
        except OSError as exc:
            raise BridgeError(
                f"cannot write the material store {self.directory} to {what} ({exc.strerror or exc}). "
                "Nothing was used from it; check the disk space and that this user may write the folder."
            ) from None

    def _read_disk(self) -> dict[str, int]:
        if not self._cursor_file.exists():
            return {}
        try:
            text = self._cursor_file.read_text()
        except OSError as exc:
            raise BridgeError(
                f"cannot read the material store's record {self._cursor_file} ({exc.strerror or exc}); "
                "check that this user may read and write the store folder."
            ) from None
        try:
            raw = json.loads(text)
            cursors = {str(k): int(v) for k, v in raw.items()}
        except (ValueError, AttributeError, TypeError):
            raise BridgeError(
                f"the preprocessing cursor file {self._cursor_file} is damaged. Material may have been used; "
                "delete the whole store directory (its material is then discarded) and run again."
            ) from None
        return cursors

    def _write_merged(self, updates: dict[str, int]) -> None:
        """Under the file lock: raise the on-disk cursors to ``updates`` (others' streams untouched)."""
        disk = self._read_disk()
        changed = False
        for stream, pos in updates.items():
            if pos > disk.get(stream, 0):
                disk[stream], changed = int(pos), True
        if changed:
            with self._writing("record which material is used"):
                atomic_write(self._cursor_file, json.dumps(disk, sort_keys=True).encode())

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

    def advance(self, positions: dict[str, int]) -> None:
        """Move cursors forward (never back) to at least ``positions``; on disk before returning."""
        with self._lock:
            for stream, pos in positions.items():
                if pos > self._cursors.get(stream, 0):
                    self._cursors[stream] = int(pos)
            raised = {s: int(p) for s, p in positions.items() if p > self._persisted.get(s, 0)}
        if raised:  # only then the disk and the cross-process lock
            with self._exclusive():
                for stream, pos in raised.items():
                    self._persisted[stream] = max(self._persisted.get(stream, 0), pos)
                self._write_merged(raised)
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
        stem = f"{chunk.start:020d}-{chunk.length}"
        for name in chunk.arrays:
            if not re.fullmatch(r"[A-Za-z0-9_]+", name):
                raise BridgeError(f"bad component name {name!r}")
        with self._writing("store material from the dealer"):
            folder = private_dir(self._stream_dir(chunk.stream))
            for name, arr in chunk.arrays.items():
                with os.fdopen(open_private(folder / f"{stem}.{name}.npy"), "wb") as handle:
                    np.save(handle, np.ascontiguousarray(arr), allow_pickle=False)
        meta = {
            "stream": chunk.stream,
            "chunk_id": chunk.chunk_id,
            "seed": chunk.seed.hex(),
            "arrays": sorted(chunk.arrays),
            "origin": chunk.origin,
        }
        path = folder / f"{stem}.json"
        with self._writing("store material from the dealer"):
            atomic_write(path, json.dumps(meta).encode())
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
        """Claim the next ``count`` elements: the cursor is on disk before the material is read.

        Inside the range this process already reserved on disk no lock or disk access is needed;
        beyond it, the on-disk cursors are read and extended under the cross-process lock."""
        with self._lock:
            start = self._cursors.get(stream, 0)
            if start + count <= self._persisted.get(stream, 0):
                pieces = self._pieces(stream, start, count)
                self._cursors[stream] = start + count
                return [Piece(self._load(stream, s, n, m), off, take) for s, n, m, off, take in pieces]
        with self._exclusive():
            start = self._cursors.get(stream, 0)
            mine, on_disk = self._persisted.get(stream, 0), self._read_disk().get(stream, 0)
            if on_disk > mine and start + count > mine:  # another process reserved [mine, on_disk)
                self._cursors[stream] = self._persisted[stream] = on_disk
                raise BridgeError(
                    f"another process of this site used the material store {self.directory} (a second "
                    "kernel joined as the same party?). This kernel moved past that material and never "
                    "reuses it; run the cell again at every site, with one kernel per site."
                )
            pieces = self._pieces(stream, start, count)
            self._cursors[stream] = start + count
            if start + count > self._persisted.get(stream, 0):
                last_start, last_length = pieces[-1][0], pieces[-1][1]
                self._persisted[stream] = max(start + count, last_start + last_length)  # reserve the chunk
                self._write_merged({stream: self._persisted[stream]})
            loaded = [Piece(self._load(stream, s, n, m), off, take) for s, n, m, off, take in pieces]
        return loaded

    def _pieces(self, stream: str, start: int, count: int) -> list[tuple[int, int, Path, int, int]]:
        """The stored chunks covering [start, start + count): (start, length, file, offset, take)."""
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
        return pieces

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
