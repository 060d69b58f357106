import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smpc_magic.errors import EncodingError
from smpc_magic.protocols.additive.ring import decode, encode, max_fixed_magnitude
from smpc_magic.protocols.additive.sharing import reconstruct, share
from smpc_magic.protocols.prg import expand, new_seed

pytestmark = pytest.mark.timeout(60)


def test_integers_stay_exact_integers():
    values = np.array([-(2**61), -5, 0, 7, 2**61], dtype=np.int64)
    enc, scale = encode(values, 16)
    assert scale == 0
    out = decode(enc, scale)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, values)


def test_booleans_encode_as_zero_one_integers():
    enc, scale = encode(np.array([True, False, True]), 16)
    assert scale == 0
    np.testing.assert_array_equal(decode(enc, 0), [1, 0, 1])


@given(st.lists(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False), min_size=1, max_size=50))
@settings(max_examples=50, deadline=None)
def test_fixed_point_roundtrip_within_half_ulp(values):
    arr = np.array(values)
    enc, scale = encode(arr, 16)
    assert scale == 16
    assert np.all(np.abs(decode(enc, 16) - arr) <= 2.0**-17 * (1 + 1e-9) + np.abs(arr) * 1e-15)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_are_refused(bad):
    with pytest.raises(EncodingError, match="NaN or infinite"):
        encode(np.array([1.0, bad]), 16)


def test_out_of_range_is_refused_with_the_limit():
    limit = max_fixed_magnitude(16)
    encode(np.array([limit * 0.999, -limit * 0.999]), 16)  # near the limit: fine
    with pytest.raises(EncodingError, match="fixed-point range"):
        encode(np.array([limit * 1.01]), 16)
    with pytest.raises(EncodingError, match="2\\*\\*62"):
        encode(np.array([2**62], dtype=np.int64), 16)


def test_text_is_refused():
    with pytest.raises(EncodingError, match="only numbers"):
        encode(np.array(["a", "b"]), 16)


def test_prg_slices_match_the_whole_stream():
    seed = new_seed()
    whole = expand(seed, 3, 101)
    for offset, count in [(0, 10), (1, 7), (50, 51), (99, 2)]:
        np.testing.assert_array_equal(expand(seed, 3, count, offset=offset), whole[offset : offset + count])


def test_prg_labels_and_seeds_are_independent():
    seed = new_seed()
    a, b = expand(seed, 0, 1000), expand(seed, 1, 1000)
    c = expand(new_seed(), 0, 1000)
    assert not np.intersect1d(a, b).size and not np.intersect1d(a, c).size
    # roughly uniform top bit
    assert 400 < int((a >> np.uint64(63)).sum()) < 600


@given(st.integers(min_value=2, max_value=6), st.lists(st.integers(-(2**60), 2**60), min_size=1, max_size=20))
@settings(max_examples=30, deadline=None)
def test_additive_sharing_reconstructs(n, values):
    secret, _ = encode(np.array(values, dtype=np.int64), 16)
    shares = share(secret, n)
    assert len(shares) == n
    np.testing.assert_array_equal(reconstruct(shares), secret)
    # any n-1 shares are not the secret
    assert not np.array_equal(reconstruct(shares[1:]), secret) or secret.size == 0


def test_library_code_never_uses_numpy_random():
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2]
    offenders = []
    for folder in ("smpc_magic", "kernel_bridge"):
        for path in (root / folder).rglob("*.py"):
            text = path.read_text()
            if "np.random" in text or "numpy.random" in text:
                offenders.append(str(path))
    assert offenders == [], f"numpy.random in library code: {offenders}"


def test_ring_matmul_is_exact_modulo_2_64_for_every_shape_and_chunking(monkeypatch):
    import smpc_magic.protocols.additive.ring as ring

    rng = np.random.default_rng(0)

    def draw(*shape):
        return rng.integers(0, 2**64, size=shape, dtype=np.uint64)

    cases = [
        ((40, 3000), (3000, 40)),
        ((3000,), (3000, 60)),
        ((60, 300), (300,)),
        ((2, 30, 300), (2, 300, 30)),
        ((3, 5), (5, 2)),
    ]
    monkeypatch.setattr(ring, "_CHUNK", 700)  # several passes along the contraction
    for shape_a, shape_b in cases:
        a, b = draw(*shape_a), draw(*shape_b)
        with np.errstate(over="ignore"):
            expected = np.matmul(a, b)
        assert np.array_equal(ring.ring_matmul(a, b), expected), (shape_a, shape_b)


@pytest.mark.parametrize("n", [1, 63, 64, 65, 1000])
def test_bit_slices_transpose_every_run_of_64_words(n):
    from smpc_magic.protocols.additive.comparison import bit_slices, unslice_bit

    words = np.frombuffer(os.urandom(8 * n), dtype=np.uint64)
    for nbits in (1, 33, 63):
        slices = bit_slices(words, nbits)
        assert slices.shape == (nbits, -(-n // 64))
        for i in (0, nbits // 2, nbits - 1):  # slice i holds bit i of every word, in order
            assert np.array_equal(unslice_bit(slices[i], n), (words >> np.uint64(i)) & np.uint64(1))


def test_prg_is_aes_256_ctr_as_nist_sp_800_38a_states_it():
    """A known answer from outside this code (NIST SP 800-38A, F.5.5 CTR-AES256): the stream of
    label L from block B is the AES-256 keystream at counter block (L << 64) + B, so the test
    vector's initial counter f0f1...feff is label f0f1f2f3f4f5f6f7, block f8f9fafbfcfdfeff."""
    key = bytes.fromhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
    plain = bytes.fromhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
    cipher = bytes.fromhex("601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5")
    keystream = bytes(p ^ c for p, c in zip(plain, cipher))
    words = expand(key, 0xF0F1F2F3F4F5F6F7, 4, offset=2 * 0xF8F9FAFBFCFDFEFF)
    assert words.tobytes() == keystream
    # a slice from the second block is the second block's keystream
    assert expand(key, 0xF0F1F2F3F4F5F6F7, 2, offset=2 * 0xF8F9FAFBFCFDFEFF + 2).tobytes() == keystream[16:]
