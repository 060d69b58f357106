"""The Shamir layer's field and polynomials: arithmetic against Python integers, and the
reference text's worked examples (the line 10 + 5x, the table of sums and products, the four
parties of which one reports a share from the wrong line)."""

import secrets

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smpc_magic.protocols.shamir import field
from smpc_magic.protocols.shamir.field import P
from smpc_magic.protocols.shamir.polynomial import interpolate, lagrange_at, open_checked, reconstruct, share

elements = st.integers(0, P - 1)
EDGES = [0, 1, 2, P - 1, P - 2, (1 << 64) - 1, 1 << 64, (1 << 126), (1 << 127) - 2, 12345678901234567890123]


def as_field(values):
    return field.from_ints(np.array(values, dtype=object))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(elements, elements), min_size=1, max_size=20))
def test_field_arithmetic_matches_python_integers(pairs):
    a = as_field([x for x, _ in pairs])
    b = as_field([y for _, y in pairs])
    assert field.to_ints(field.add(a, b)) == [(x + y) % P for x, y in pairs]
    assert field.to_ints(field.sub(a, b)) == [(x - y) % P for x, y in pairs]
    assert field.to_ints(field.mul(a, b)) == [(x * y) % P for x, y in pairs]
    assert field.to_ints(field.neg(a)) == [(-x) % P for x, _ in pairs]


def test_field_edges_and_broadcasting():
    a = as_field(EDGES)
    products = field.mul(a[:, None], a[None, :])
    assert products.shape == (len(EDGES), len(EDGES))
    assert field.to_ints(products) == [(x * y) % P for x in EDGES for y in EDGES]
    assert field.to_ints(field.add(a, field.scalar(P - 1))) == [(x - 1) % P for x in EDGES]


def test_signed_integers_go_in_and_come_back_by_the_centred_lift():
    values = np.array([0, 1, -1, 2**62, -(2**62), 2**63 - 1, -(2**63)], dtype=np.int64)
    encoded = field.from_ints(values)
    assert field.to_ints(encoded) == [int(v) % P for v in values]
    assert field.centred(encoded).tolist() == values.tolist()
    with pytest.raises(ValueError, match="outside the range"):
        field.centred(as_field([1 << 100]))


def test_random_elements_are_in_the_field_and_differ():
    words = np.frombuffer(secrets.token_bytes(16 * 1000), dtype=np.uint64).reshape(1000, 2)
    values = field.to_ints(field.random(words))
    assert all(0 <= v < P for v in values) and len(set(values)) == 1000


def test_the_line_10_plus_5x_gives_shares_15_and_20_and_back_10():
    shares = share(as_field([10]), n=2, degree=1, coefficients=as_field([[5]]))
    assert [field.to_ints(s) for s in shares] == [[15], [20]]
    assert field.to_ints(reconstruct(shares, degree=1)) == [10]
    assert lagrange_at((1, 2)) == (2, P - 1)  # f(0) = 2 f(1) - f(2)


def test_the_table_of_sums_and_products_of_shared_10_and_2():
    f1 = share(as_field([10]), 2, 1, as_field([[5]]))  # 10 + 5x
    f2 = share(as_field([2]), 2, 1, as_field([[8]]))  # 2 + 8x
    sums = [field.add(a, b) for a, b in zip(f1, f2)]
    assert [field.to_ints(s) for s in sums] == [[25], [38]]
    assert field.to_ints(reconstruct(sums, 1)) == [12]  # 12 + 13x
    products = [field.mul(a, b) for a, b in zip(f1, f2)]
    assert [field.to_ints(s) for s in products] == [[150], [360]]
    # 20 + 90x + 40x^2 has degree 2: two shares do not determine it, three do
    third = field.mul(as_field([10 + 5 * 3]), as_field([2 + 8 * 3]))
    assert field.to_ints(interpolate([1, 2, 3], [*products, third])) == [20]
    assert field.to_ints(reconstruct(products, 1)) != [20]


def test_four_parties_one_reporting_from_the_wrong_line():
    reported = [as_field([25]), as_field([20]), as_field([25]), as_field([30])]  # party 1 says (1, 25)
    # two reports: the red line through (1, 25) and (2, 20) gives 30, and nothing notices
    assert field.to_ints(reconstruct(reported[:2], 1)) == [30]
    # three reports: the points are not on one line; detected, but not whom to blame
    three = open_checked(reported[:3], degree=1, max_false=1, correct=False)
    assert three.inconsistent and three.values is None and three.culprits == ()
    with pytest.raises(ValueError, match="cannot correct"):
        open_checked(reported[:3], degree=1, max_false=1, correct=True)
    # four reports: parties 2, 3 and 4 lie on the blue line; party 1 is named, 10 is recovered
    four = open_checked(reported, degree=1, max_false=1, correct=True)
    assert four.inconsistent and four.culprits == (0,) and field.to_ints(four.values) == [10]
    honest = open_checked([as_field([15]), *reported[1:]], degree=1, max_false=1, correct=True)
    assert not honest.inconsistent and field.to_ints(honest.values) == [10]


def test_checked_openings_work_element_by_element_on_whole_arrays():
    rng = np.random.default_rng(7)  # test data, not shares
    secret = as_field(rng.integers(0, 1000, 500).tolist())
    words = np.frombuffer(secrets.token_bytes(16 * 2 * 500), dtype=np.uint64).reshape(2, 500, 2)
    shares = share(secret, n=5, degree=2, coefficients=field.random(words))
    shares[3] = shares[3].copy()
    shares[3][::7] = field.add(shares[3][::7], field.scalar(1))  # party 4 falsifies every 7th element
    corrected = open_checked(shares, degree=2, max_false=1, correct=True)
    assert corrected.culprits == (3,) and field.to_ints(corrected.values) == field.to_ints(secret)
    detected = open_checked(shares, degree=2, max_false=2, correct=False)
    assert detected.inconsistent and detected.values is None
