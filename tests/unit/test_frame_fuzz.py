"""Total frame validation: whatever bytes a peer sends, decoding either succeeds or raises
FrameError, never another exception (a short hypothesis run here; the audit's cases by name)."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel_bridge import framing
from kernel_bridge.errors import FrameError

pytestmark = pytest.mark.timeout(120)
SESSION = "s1"


def valid_frames() -> list[bytes]:
    header = framing.Header(SESSION, "data", "c", 3, "beaver multiply", {"material": "ab"})
    return [bytes(f) for f in framing.encode(header, [np.arange(4, dtype=np.uint64)])]


def decode_or_frame_error(frames) -> None:
    try:
        framing.decode(frames, SESSION)
    except FrameError:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(
    st.dictionaries(
        st.sampled_from(["v", "session", "kind", "computation", "step", "label", "meta", "arrays"]), json_values
    )
)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_json_header_is_decoded_or_refused_as_a_frame_error(fields):
    doc = {
        "v": 1,
        "session": SESSION,
        "kind": "data",
        "computation": "c",
        "step": 0,
        "label": "",
        "meta": {},
        "arrays": [],
    }
    doc.update(fields)
    decode_or_frame_error([json.dumps(doc).encode(), b"\0" * 8])


@given(st.data())
@settings(max_examples=400, deadline=None)
def test_mutated_frames_are_decoded_or_refused_as_a_frame_error(data):
    frames = valid_frames()
    which = data.draw(st.integers(0, len(frames) - 1))
    raw = bytearray(frames[which])
    for _ in range(data.draw(st.integers(1, 8))):
        if raw:
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    frames[which] = bytes(raw)
    decode_or_frame_error(frames)


@pytest.mark.parametrize(
    "spec, shape, extra",
    [
        ({"a": 1}, [4], {}),  # a dict as a dtype spec (killed the dealer)
        (["uint64"], [4], {}),  # a list as a dtype spec
        ("uint64", [True, 4], {}),  # booleans as integers in a shape
        ("uint64", [1 << 39, 1 << 39], {}),  # the shape's product overflows int64
        ("uint64", [4], {"step": True}),  # a boolean as a step
        ("uint64", [4], {"step": "HUGE"}),  # a 5,000-digit integer, spliced into the text below
    ],
)
def test_the_audits_malformed_frames_are_frame_errors(spec, shape, extra):
    doc = {"v": 1, "session": SESSION, "kind": "data", "computation": "c", "step": 0, "label": "", "meta": {}}
    doc.update({"arrays": [[spec, shape]], **extra})
    text = json.dumps(doc).replace('"HUGE"', "9" * 5000)
    with pytest.raises(FrameError):
        framing.decode([text.encode(), b"\0" * 32], SESSION)


def test_deeply_nested_headers_are_refused_without_recursing():
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(FrameError):
        framing.decode([('{"v":1,"session":"s1","meta":' + deep + "}").encode()], SESSION)
    nested = {"v": 1, "session": SESSION, "kind": "k", "computation": "", "step": 0, "label": "", "arrays": []}
    meta: dict = {}
    cursor = meta
    for _ in range(50):
        cursor["x"] = {}
        cursor = cursor["x"]
    nested["meta"] = meta
    with pytest.raises(FrameError, match="deeply"):
        framing.decode([json.dumps(nested).encode()], SESSION)


def test_a_valid_frame_still_decodes():
    header, arrays = framing.decode(valid_frames(), SESSION)
    assert header.label == "beaver multiply" and arrays[0].tolist() == [0, 1, 2, 3]


def test_a_short_mutation_fuzz_of_frames_rendezvous_and_dealer_finds_no_foreign_exception():
    from tests.support.fuzzing import run

    findings = run(15_000, seed=20261124, report=lambda _: None)
    assert {name: dict(found) for name, found in findings.items() if found} == {}
