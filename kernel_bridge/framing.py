"""Wire format: one JSON header frame plus one raw frame per array. Never pickle.

The header names the session, the computation, the step, the message kind, and the dtype and
shape of every array that follows; the receiver checks all of it before touching a byte.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from .errors import FrameError

VERSION = 1
MAX_HEADER_BYTES = 1 << 20
ALLOWED_DTYPES = {"uint64", "int64", "float64", "uint8", "bool"}
#: dtype <-> name without numpy's slow ``dtype.name`` property (it matters once per array per round)
_NAME_OF = {np.dtype(name): name for name in ALLOWED_DTYPES}
_DTYPE_OF = {name: np.dtype(name) for name in ALLOWED_DTYPES}
MAX_DIMS = 8


@dataclass
class Header:
    session: str
    kind: str
    computation: str = ""
    step: int = 0
    label: str = ""
    meta: dict = field(default_factory=dict)
    arrays: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)


def encode(header: Header, arrays: list[np.ndarray]) -> list:
    """Frames for one message: JSON header, then each array's raw bytes (not copied)."""
    specs = []
    frames: list = []
    for arr in arrays:
        arr = np.asarray(arr)
        name = _NAME_OF.get(arr.dtype)
        if name is None:
            raise FrameError(f"cannot send dtype {arr.dtype.name}")
        arr = np.ascontiguousarray(arr) if arr.ndim else arr.reshape(())
        specs.append([name, list(arr.shape)])
        frames.append(memoryview(arr.reshape(-1)).cast("B"))  # type: ignore[arg-type]
    doc = {
        "v": VERSION,
        "session": header.session,
        "kind": header.kind,
        "computation": header.computation,
        "step": int(header.step),
        "label": header.label,
        "meta": header.meta,
        "arrays": specs,
    }
    return [json.dumps(doc, separators=(",", ":")).encode("utf-8"), *frames]


#: Headers nest no deeper than this (a deeply nested header is refused, not recursed into).
MAX_DEPTH = 32
MAX_STEP = 1 << 53
MAX_ARRAY_BYTES = 1 << 33


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shape(value: object) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) > MAX_DIMS:
        raise FrameError("bad array shape in header")
    if not all(_is_int(v) and 0 <= v < (1 << 40) for v in value):
        raise FrameError("bad array shape in header")
    return tuple(value)


def _check_depth(doc: object) -> None:
    """Refuse headers nested deeper than MAX_DEPTH (checked without recursion)."""
    stack = [(doc, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise FrameError("header nested too deeply")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def decode(frames: list, expected_session: str) -> tuple[Header, list[np.ndarray]]:
    """Parse and check a message. Anything malformed or foreign raises :class:`FrameError`, and
    nothing else: a peer's bytes can never crash the receiver."""
    try:
        return _decode(frames, expected_session)
    except FrameError:
        raise
    except (ValueError, TypeError, RecursionError, OverflowError, MemoryError, AttributeError) as exc:
        raise FrameError(f"malformed message ({type(exc).__name__})") from None


def _decode(frames: list, expected_session: str) -> tuple[Header, list[np.ndarray]]:
    if not frames:
        raise FrameError("empty message")
    raw = bytes(frames[0].buffer if hasattr(frames[0], "buffer") else frames[0])
    if len(raw) > MAX_HEADER_BYTES:
        raise FrameError("header too large")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise FrameError("header is not JSON") from None
    _check_depth(doc)
    if not isinstance(doc, dict) or doc.get("v") != VERSION or isinstance(doc.get("v"), bool):
        raise FrameError("unknown message version")
    if not isinstance(doc.get("session"), str) or doc["session"] != expected_session:
        raise FrameError("message for another session")
    kind, computation, step, label, meta = (doc.get(k) for k in ("kind", "computation", "step", "label", "meta"))
    if not isinstance(kind, str) or not isinstance(computation, str) or not isinstance(label, str):
        raise FrameError("malformed header fields")
    if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step < MAX_STEP or not isinstance(meta, dict):
        raise FrameError("malformed header fields")
    specs = doc.get("arrays")
    if not isinstance(specs, list) or len(specs) != len(frames) - 1:
        raise FrameError("header does not match the number of array frames")
    arrays = []
    parsed_specs = []
    for spec, frame in zip(specs, frames[1:]):
        if not isinstance(spec, list) or len(spec) != 2 or not isinstance(spec[0], str):
            raise FrameError("bad array spec")
        dtype = _DTYPE_OF.get(spec[0])
        if dtype is None:
            raise FrameError("array of a forbidden dtype")
        shape = _shape(spec[1])
        expected = dtype.itemsize
        for v in shape:
            expected *= v
        if expected > MAX_ARRAY_BYTES:
            raise FrameError("array too large")
        buf = frame.buffer if hasattr(frame, "buffer") else memoryview(frame)
        if len(buf) != expected:
            raise FrameError(f"array frame has {len(buf)} bytes, header says {expected}")
        arrays.append(np.frombuffer(buf, dtype=dtype).reshape(shape))
        parsed_specs.append((spec[0], shape))
    return Header(doc["session"], kind, computation, step, label, meta, parsed_specs), arrays


def record_message(handle: BinaryIO, frames: Sequence[bytes | memoryview]) -> None:
    """Append one received message to a recording (tests and audits of what a party receives):
    the frame count, then each frame's length and bytes."""
    handle.write(struct.pack("<I", len(frames)))
    for frame in frames:
        data = bytes(frame)
        handle.write(struct.pack("<Q", len(data)) + data)


def read_record(blob: bytes) -> list[list[bytes]]:
    """The messages of a recording made by :func:`record_message`."""
    messages, pos = [], 0
    while pos < len(blob):
        (count,) = struct.unpack_from("<I", blob, pos)
        pos += 4
        frames = []
        for _ in range(count):
            (length,) = struct.unpack_from("<Q", blob, pos)
            frames.append(blob[pos + 8 : pos + 8 + length])
            pos += 8 + length
        messages.append(frames)
    return messages
