"""Protocol math with in-memory parties (threads): randomised, negative values, near the limits."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from smpc_magic.protocols.additive import arithmetic as proto
from smpc_magic.protocols.additive.ring import decode
from smpc_magic.protocols.additive.sharing import reconstruct
from tests.support.inmemory import InMemoryParties
from tests.support.numeric import ULP
from tests.support.numeric import fixed as quantised

pytestmark = pytest.mark.timeout(120)


def floats(lo, hi):
    return st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False)


@given(st.integers(2, 4), hnp.arrays(np.float64, st.integers(1, 40), elements=floats(-1000, 1000)))
@settings(max_examples=25, deadline=None)
def test_beaver_product_within_one_ulp(n, x):
    parties = InMemoryParties(n)
    y = x[::-1].copy()
    got = parties.compute(lambda a, b: a * b, x, y)
    exact = quantised(x) * quantised(y)
    assert np.all(np.abs(got - exact) <= ULP)


@given(hnp.arrays(np.int64, st.integers(1, 30), elements=st.integers(-(2**30), 2**30)))
@settings(max_examples=20, deadline=None)
def test_integer_products_are_exact(x):
    parties = InMemoryParties(3)
    got = parties.compute(lambda a, b: a * b - 7 * a, x, x + 3)
    np.testing.assert_array_equal(got, x * (x + 3) - 7 * x)
    assert got.dtype == np.int64


def test_broadcasting_product_of_secrets():
    parties = InMemoryParties(3)
    X = np.arange(12.0).reshape(4, 3) - 5.5
    w = np.array([0.5, -2.0, 3.25])
    col = np.array([[1.0], [2.0], [-1.0], [0.5]])
    np.testing.assert_allclose(parties.compute(lambda a, b: a * b, X, w), X * w, atol=ULP)
    np.testing.assert_allclose(parties.compute(lambda a, b: a * b, X, col), X * col, atol=ULP)


def test_products_near_the_truncation_limit():
    # |x*y| up to ~2**29 is inside the documented limit |x*y| < 2**(62-2f) = 2**30
    parties = InMemoryParties(3)
    x = np.array([20000.0, -20000.0, 23170.0, -0.001])
    y = np.array([25000.0, 26000.0, -23170.0, 0.002])
    got = parties.compute(lambda a, b: a * b, x, y)
    np.testing.assert_allclose(got, quantised(x) * quantised(y), atol=ULP, rtol=0)


def test_large_magnitude_sums_near_the_encoding_limit():
    parties = InMemoryParties(3)
    x = np.array([3.0e13, -3.0e13, 1.2e13])
    got = parties.compute(lambda a: a + a, x)
    np.testing.assert_allclose(got, 2 * x, rtol=1e-12)


@given(st.integers(2, 4), st.integers(1, 20), st.integers(1, 6), st.integers(1, 4))
@settings(max_examples=15, deadline=None)
def test_matrix_product(n, rows, inner, cols):
    parties = InMemoryParties(n)
    grid = np.arange(rows * inner, dtype=np.float64).reshape(rows, inner)
    A = np.sin(grid) * 50 - 3
    B = np.cos(np.arange(inner * cols, dtype=np.float64)).reshape(inner, cols) * 20
    got = parties.compute(lambda a, b: a @ b, A, B)
    np.testing.assert_allclose(got, quantised(A) @ quantised(B), atol=ULP * 1.01)


def test_gram_uses_one_opening_and_matches():
    parties = InMemoryParties(3)
    X = np.sin(np.arange(600.0)).reshape(200, 3) * 10 + 1
    got = parties.compute(lambda a: a.T @ a, X)
    np.testing.assert_allclose(got, quantised(X).T @ quantised(X), atol=ULP * 1.01)
    sizes = [sum(a.size for a in arrays) for (_, _, label, arrays) in parties.network.log if label == "gram matrix"]
    assert sizes and all(s == X.size for s in sizes)  # X - A only, not X.T - A and X - B


@given(
    hnp.arrays(np.int64, st.integers(1, 30), elements=st.integers(-(2**61), 2**61)),
    st.integers(1, 2**40),
)
@settings(max_examples=30, deadline=None)
def test_division_by_public_integer_within_two_units(x, divisor):
    parties = InMemoryParties(3)
    enc = x.view(np.uint64)
    shares, _ = parties.share(x)
    out = parties.run(lambda ctx, s: proto.div_public(ctx, s, divisor), shares)
    got = reconstruct(out).view(np.int64)
    exact = x // divisor  # in integers: a float quotient near 2**61 is itself off by more than 2
    assert np.all(np.abs(got - exact) <= 2), (got, exact)
    assert enc.size == got.size


def test_truncation_by_power_of_two_is_rounding_within_one_unit():
    parties = InMemoryParties(2)
    x = np.array([-(2**61) + 12345, -(2**40), -1, 0, 1, 2**16 * 3 + 2**15, 2**61 - 1], dtype=np.int64)
    shares, _ = parties.share(x)
    out = parties.run(lambda ctx, s: proto.div_public(ctx, s, 2**16), shares)
    got = reconstruct(out).view(np.int64)
    assert np.all(np.abs(got - x / 2**16) <= 1.0)


def test_open_to_chosen_recipients_only():
    parties = InMemoryParties(3)
    shares, _ = parties.share(np.array([1.5, -2.5]))
    out = parties.run(lambda ctx, s: proto.open_values(ctx, [s], "reveal", to=[2]), shares)
    assert out[0] is None and out[1] is None
    np.testing.assert_allclose(decode(out[2][0], 16), [1.5, -2.5])
    # nothing was sent to parties 0 and 1
    assert all(dst == 2 for (_, dst, label, _) in parties.network.log if label == "reveal")
