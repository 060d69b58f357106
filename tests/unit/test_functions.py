"""Comparisons and non-linear functions with in-memory parties, randomised over the stated ranges.

"Error <= 1e-3 relative" means at most 1e-3 * |true value| or 4 * 2**-16, whichever is larger;
the true value is numpy's, on the input as fixed point represents it.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from smpc_magic.secret import lib as smpc
from tests.support.inmemory import InMemoryParties
from tests.support.numeric import ULP, fixed, within_relative

pytestmark = [pytest.mark.timeout(300), pytest.mark.usefixtures("protocol")]
SETTINGS = settings(max_examples=12, deadline=None)


def values(lo, hi, size=None, log=False):
    size = st.integers(1, 40) if size is None else size
    if log:
        exps = hnp.arrays(np.float64, size, elements=st.floats(np.log10(lo), np.log10(hi)))
        return exps.map(lambda e: 10.0**e)
    return hnp.arrays(np.float64, size, elements=st.floats(lo, hi, allow_nan=False))


@given(values(-1000, 1000), st.integers(2, 4))
@SETTINGS
def test_comparisons_are_exact_when_values_differ_by_an_ulp(x, n):
    parties = InMemoryParties(n)
    y = fixed(x[::-1])
    x = fixed(x)
    for op, ref in [("<", np.less), ("<=", np.less_equal), (">", np.greater), (">=", np.greater_equal)]:
        got = parties.compute(lambda a, b, op=op: eval(f"a {op} b"), x, y)  # noqa: S307 - test table
        mask = np.abs(x - y) >= ULP
        np.testing.assert_array_equal(got[mask], ref(x, y)[mask].astype(int))
        assert got.dtype == np.int64


@given(hnp.arrays(np.int64, st.integers(1, 40), elements=st.integers(-(2**40), 2**40)))
@SETTINGS
def test_equality_is_exact_on_integers(x):
    parties = InMemoryParties(3)
    y = np.where(np.arange(x.size) % 2 == 0, x, x + 1)
    np.testing.assert_array_equal(parties.compute(lambda a, b: a == b, x, y), (x == y).astype(int))
    np.testing.assert_array_equal(parties.compute(lambda a, b: a != b, x, y), (x != y).astype(int))


def test_comparison_with_public_values_and_at_the_range_limits():
    parties = InMemoryParties(2)
    x = np.array([-(2.0**45), -1.0, -ULP, 0.0, ULP, 1.0, 2.0**45])
    np.testing.assert_array_equal(parties.compute(lambda a: a < 0, x), (x < 0).astype(int))
    np.testing.assert_array_equal(parties.compute(lambda a: 0.5 <= a, x), (x >= 0.5).astype(int))


def test_where_maximum_minimum_abs_sign_clip():
    parties = InMemoryParties(3)
    a = fixed([-3.5, 2.0, 0.0, 7.25, -0.5])
    b = fixed([1.0, -2.0, 0.0, 7.5, -0.75])
    np.testing.assert_allclose(parties.compute(lambda x, y: smpc.where(x < y, x, y), a, b), np.minimum(a, b))
    np.testing.assert_allclose(parties.compute(lambda x, y: np.maximum(x, y), a, b), np.maximum(a, b))
    np.testing.assert_allclose(parties.compute(lambda x, y: smpc.minimum(x, y), a, b), np.minimum(a, b))
    np.testing.assert_allclose(parties.compute(lambda x: abs(x), a), np.abs(a))
    np.testing.assert_array_equal(parties.compute(lambda x: smpc.sign(x), a), np.sign(a).astype(int))
    np.testing.assert_allclose(parties.compute(lambda x: np.clip(x, -1, 3), a), np.clip(a, -1, 3))
    np.testing.assert_allclose(
        parties.compute(lambda x: smpc.where(np.array([1, 0, 1, 0, 1]), x, 0.0), a), a * [1, 0, 1, 0, 1]
    )


@given(values(-500, 500, size=st.integers(1, 13)))
@settings(max_examples=8, deadline=None)
def test_max_min_argmax_argmin_along_axes(x):
    parties = InMemoryParties(3)
    x = fixed(x)
    assert parties.compute(lambda a: smpc.max(a), x) == x.max()
    assert parties.compute(lambda a: np.min(a), x) == x.min()
    assert parties.compute(lambda a: smpc.argmax(a), x) == np.argmax(x)
    assert parties.compute(lambda a: np.argmin(a), x) == np.argmin(x)
    m = fixed(np.stack([x, -x, x * 0.5]))
    np.testing.assert_array_equal(parties.compute(lambda a: smpc.max(a, axis=1), m), m.max(axis=1))
    np.testing.assert_array_equal(parties.compute(lambda a: smpc.argmax(a, axis=0), m), m.argmax(axis=0))


@given(values(1e-2, 1e4, log=True), st.booleans())
@SETTINGS
def test_reciprocal_and_division(x, negative):
    parties = InMemoryParties(3)
    x = fixed(-x if negative else x)
    within_relative(parties.compute(lambda a: smpc.reciprocal(a), x), 1 / x)
    y = fixed(np.linspace(-1e4, 1e4, x.size))
    within_relative(parties.compute(lambda a, b: b / a, x, y), fixed(y) / x)


@given(values(1e-3, 1e6, log=True))
@SETTINGS
def test_sqrt(x):
    parties = InMemoryParties(3)
    x = fixed(x)
    within_relative(parties.compute(lambda a: np.sqrt(a), x), np.sqrt(x))


@given(values(-10, 10))
@SETTINGS
def test_exp(x):
    parties = InMemoryParties(3)
    x = fixed(x)
    within_relative(parties.compute(lambda a: np.exp(a), x), np.exp(x))


@given(values(1e-2, 1e6, log=True))
@SETTINGS
def test_log_absolute_error(x):
    parties = InMemoryParties(3)
    x = fixed(x)
    assert np.all(np.abs(parties.compute(lambda a: np.log(a), x) - np.log(x)) <= 1e-3)


@given(values(-30, 30))
@SETTINGS
def test_sigmoid_and_tanh(x):
    parties = InMemoryParties(3)
    x = fixed(x)
    assert np.all(np.abs(parties.compute(lambda a: smpc.sigmoid(a), x) - 1 / (1 + np.exp(-x))) <= 1e-3)
    assert np.all(np.abs(parties.compute(lambda a: np.tanh(a), x) - np.tanh(x)) <= 1e-3)


@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 9)), elements=st.floats(-20, 20)))
@SETTINGS
def test_softmax_per_entry(x):
    parties = InMemoryParties(3)
    x = fixed(x)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    want = e / e.sum(axis=1, keepdims=True)
    assert np.all(np.abs(parties.compute(lambda a: smpc.softmax(a, axis=1), x) - want) <= 1e-3)


def test_rates_divide_large_sums():
    """An incidence rate: events over person-years summed across sites (tens of thousands)."""
    parties = InMemoryParties(3)
    events = np.array([17, 230, 4])
    years = fixed([45_210.5, 812_004.25, 3_120.75])
    # multiply before dividing: 17 / 45210 is only 25 units of 2**-16
    got = parties.compute(lambda e, y: e * 1000 / y, events, years)
    within_relative(got, events / years * 1000)
