"""simulate with real party processes and a dealer process over CurveZMQ on loopback."""

import numpy as np
import pytest

from smpc_magic import (
    CellBoundaryError,
    CellError,
    EncodingError,
    InputMismatchError,
    PartyFailed,
    SecretValueError,
    UnknownNameError,
    simulate,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

RNG = np.random.default_rng(20261124)  # test data only


def split(values, n):
    return np.array_split(values, n)


#: (parties, protocol): the Shamir protocol needs three or more parties
SETUPS = [(3, "additive"), (2, "additive"), (3, "shamir")]


@pytest.mark.parametrize("n, protocol", SETUPS)
def test_pooled_sum_and_mean_of_300k_values(n, protocol):
    values = RNG.normal(50, 12, 300_000)  # e.g. ages
    inputs = {f"site{i}": {"age": part} for i, part in enumerate(split(values, n))}
    out = simulate(
        "total = age.sum()\naverage = np.mean(age)",
        inputs,
        ["total", "average"],
        ranges={"age": (-50, 150)},
        protocol=protocol,
    )
    assert abs(out["total"] / values.sum() - 1) < 1e-4
    assert abs(out["average"] / values.mean() - 1) < 1e-4


@pytest.mark.parametrize("n, protocol", SETUPS)
def test_pooled_normal_equations_30k_by_10(n, protocol):
    X = np.column_stack([np.ones(30_000), RNG.normal(50, 10, 30_000), RNG.normal(0, 1, (30_000, 8))])
    y = X @ np.linspace(-1, 1, 10) + RNG.normal(0, 1, 30_000)
    inputs = {f"site{i}": {"X": xp, "y": yp} for i, (xp, yp) in enumerate(zip(split(X, n), split(y, n)))}
    ranges = {"X": (-100, 200), "y": (-200, 200)}
    out = simulate("XtX = X.T @ X\nXty = X.T @ y", inputs, "XtX, Xty", ranges=ranges, protocol=protocol)
    XtX, Xty = X.T @ X, X.T @ y
    assert np.linalg.norm(out["XtX"] - XtX) / np.linalg.norm(XtX) < 1e-3
    assert np.linalg.norm(out["Xty"] - Xty) / np.linalg.norm(Xty) < 1e-3
    assert np.abs(out["XtX"] - XtX).max() <= 1e-3 * np.abs(XtX).max()


@pytest.mark.parametrize("n, protocol", SETUPS)
def test_elementwise_product_of_a_million_pairs(n, protocol):
    a = RNG.uniform(-100, 100, 1_000_000)
    b = RNG.uniform(-100, 100, 1_000_000)
    names = [f"site{i}" for i in range(n)]
    inputs = {names[0]: {"a": a}, names[1]: {"b": b}, **{m: {} for m in names[2:]}}
    # frac_bits=20: at the default 16, rounding the *inputs* alone moves a product by up to 1.5e-3
    ranges = {"a": (-100, 100), "b": (-100, 100)}
    out = simulate("p = a * b", inputs, "p", frac_bits=20, ranges=ranges, protocol=protocol)
    assert np.abs(out["p"] - a * b).max() <= 1e-3
    # at the default precision the protocol adds at most one unit (2**-16) to the rounded inputs' product
    out16 = simulate("p = a * b", inputs, "p", ranges=ranges, protocol=protocol)
    qa, qb = np.rint(a * 2**16) / 2**16, np.rint(b * 2**16) / 2**16
    assert np.abs(out16["p"] - qa * qb).max() <= 2**-16


def test_integers_are_exact_and_public_values_and_reveal_of_plain_names():
    out = simulate(
        "n = flag.sum()\nscaled = (flag * weight).sum() * factor\nk = factor * 2",
        {"a": {"flag": np.array([1, 0, 1])}, "b": {"flag": np.array([1, 1])}, "c": {"weight": np.arange(5)}},
        ["n", "scaled", "k"],
        public={"factor": 3},
        ranges={"flag": (0, 1), "weight": (0, 10)},
    )
    assert out["n"] == 4 and out["n"].dtype == np.int64
    assert out["scaled"] == (0 + 0 + 2 + 3 + 4) * 3 and out["scaled"].dtype == np.int64
    assert out["k"] == 6


def test_reveal_to_one_party_only():
    out = simulate("s = x.sum()", {"a": {"x": [1.0]}, "b": {"x": [2.0]}, "c": {}}, "s", to=["c"])
    assert out["s"] == pytest.approx(3.0)


def test_nan_input_is_refused_before_anything_starts():
    with pytest.raises(EncodingError, match="party 'b'.*NaN"):
        simulate("s = x.sum()", {"a": {"x": [1.0]}, "b": {"x": [np.nan]}}, "s")


def test_out_of_range_input_is_refused():
    with pytest.raises(EncodingError, match="fixed-point range"):
        simulate("s = x.sum()", {"a": {"x": [1e15]}, "b": {"x": [1.0]}}, "s")


def test_name_no_party_provides():
    with pytest.raises(UnknownNameError, match="'cohort'.*--public cohort"):
        simulate("s = cohort.sum()", {"a": {"x": [1.0]}, "b": {"x": [2.0]}}, "s")


def test_pooled_trailing_shapes_must_match():
    with pytest.raises(InputMismatchError, match="'X' is pooled.*a \\(2, 3\\), b \\(2, 4\\)"):
        simulate("s = X.sum()", {"a": {"X": np.ones((2, 3))}, "b": {"X": np.ones((2, 4))}}, "s")


def test_secret_in_an_if_is_refused_with_a_hint():
    with pytest.raises(SecretValueError, match="party 'a'.*--reveal"):
        simulate("if x.sum():\n    y = 1", {"a": {"x": [1.0]}, "b": {"x": [2.0]}}, [])


def test_error_in_the_cell_names_the_party():
    with pytest.raises(PartyFailed, match="party 'a'.*ZeroDivisionError"):
        simulate("s = x.sum() * (1 / 0)", {"a": {"x": [1.0]}, "b": {"x": [2.0]}}, "s")


def test_reveal_of_a_name_the_cell_never_assigned():
    with pytest.raises(CellError, match="never assigned 'nope'"):
        simulate("s = x.sum()", {"a": {"x": [1.0]}, "b": {"x": [2.0]}}, "s nope")


def test_the_audit_leak_through_internals_is_refused_before_any_process_starts():
    leak = "total = x.sum()\nleak = x._ctx.suite.open_values(x._ctx, [x._share], 'reveal')[0]"
    with pytest.raises(CellBoundaryError, match="line 2: '._ctx'"):
        simulate(leak, {"a": {"x": [1.0]}, "b": {"x": [2.0]}}, "total", to=["a"])
