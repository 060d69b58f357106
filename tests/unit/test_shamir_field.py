"""The Shamir layer's field and polynomials: arithmetic against Python integers, and the
reference text's worked examples (the line 10 + 5x, the table of sums and products, the four
parties of which one reports a share from the wrong line)."""

import itertools
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


def _threads(n, fn):
    """Run fn(channel, next_step) for each of n in-memory parties (threads); their results."""
    import threading

    from smpc_magic.protocols.testing import InMemoryNetwork

    network = InMemoryNetwork(n, timeout=20)
    out, errors = [None] * n, []

    def work(i):
        steps = iter(range(1, 1000))
        try:
            out[i] = fn(network.channel(i), lambda: next(steps))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    if errors:
        raise errors[0]
    return out, network


@pytest.mark.parametrize("n,t", [(3, 1), (5, 2), (4, 1)])
def test_parties_make_double_sharings_and_multiply_in_one_round_without_a_dealer(n, t):
    from smpc_magic.protocols.shamir import rounds

    rng = np.random.default_rng(n)  # test data, not shares
    xs, ys = rng.integers(-(10**9), 10**9, 300), rng.integers(-(10**9), 10**9, 300)
    coefficients = rounds.random_elements((t, 300)), rounds.random_elements((t, 300))
    x_shares = share(field.from_ints(xs), n, t, coefficients[0])
    y_shares = share(field.from_ints(ys), n, t, coefficients[1])

    def party(channel, next_step):
        r_low, r_high = rounds.double_sharings(channel, next_step, 300, t)
        product = rounds.multiply(
            channel, next_step, x_shares[channel.party], y_shares[channel.party], r_low, r_high, t
        )
        return product, r_low, r_high, channel.stats.rounds

    results, network = _threads(n, party)
    products = [r[0] for r in results]
    assert all(r[3] == 2 for r in results)  # one round to make the material, one to multiply
    assert field.centred(reconstruct(products, t)).tolist() == (xs * ys).tolist()
    # any t + 1 shares give the same product: the result is a proper degree-t sharing
    assert field.to_ints(interpolate(list(range(n - t, n + 1)), products[n - t - 1 :])) == field.to_ints(
        reconstruct(products, t)
    )
    # r at degree t and at degree 2t are the same random values, and they are not all zero
    r_t = reconstruct([r[1] for r in results], t)
    r_2t = reconstruct([r[2] for r in results], 2 * t)
    assert field.to_ints(r_t) == field.to_ints(r_2t) and len(set(field.to_ints(r_t))) == 300
    # what was opened is x*y + r (masked), never x*y itself
    sent = {}
    for sender, _, label, arrays in network.log:
        if label == "multiplication":
            sent[sender] = rounds.from_wire(arrays[0], f"p{sender}", label)
    opened = reconstruct([sent[i] for i in range(2 * t + 1)], 2 * t)
    expected = field.add(field.from_ints(xs * ys), r_t)
    assert field.to_ints(opened) == field.to_ints(expected)
    assert not np.any(np.isin(field.to_ints(opened), [int(v) % P for v in xs * ys]))


def test_a_peer_word_pair_outside_the_field_is_refused():
    from smpc_magic.protocols.channel import ChannelMismatch
    from smpc_magic.protocols.shamir import rounds

    words = rounds.to_wire(as_field([1, 2, 3]))
    assert field.to_ints(rounds.from_wire(words, "p1", "x")) == [1, 2, 3]
    words[1] = [np.uint64((1 << 64) - 1), np.uint64((1 << 63) - 1)]  # p itself: not canonical
    with pytest.raises(ChannelMismatch, match="'p1' sent a value outside the field"):
        rounds.from_wire(words, "p1", "x")


@pytest.mark.parametrize("n,t", [(3, 1), (5, 2), (4, 1)])
def test_pseudo_random_sharing_gives_consistent_shares_of_a_value_no_t_parties_know(n, t):
    from smpc_magic.protocols.shamir import prss

    keys = prss.deal_keys(n, t)
    shares = [prss.random_shares(i, n, keys[i], label=7, count=200) for i in range(n)]
    # every party's share lies on one polynomial of degree t
    assert not open_checked(shares, degree=t, max_false=0, correct=False).inconsistent
    all_keys = {a: k for held in keys for a, k in held.items()}
    value = prss.value_of(all_keys, label=7, count=200)
    assert field.to_ints(reconstruct(shares, t)) == field.to_ints(value)
    assert len(set(field.to_ints(value))) == 200
    # any t parties together miss the key of the set of all the others
    for coalition in itertools.combinations(range(n), t):
        known = set().union(*(keys[i] for i in coalition))
        assert tuple(j for j in range(n) if j not in coalition) not in known
    # a fresh label gives fresh values
    other = [prss.random_shares(i, n, keys[i], label=8, count=200) for i in range(n)]
    assert set(field.to_ints(reconstruct(other, t))).isdisjoint(field.to_ints(value))


@pytest.mark.parametrize("n,t", [(3, 1), (5, 2)])
def test_truncation_without_a_dealer_is_within_its_stated_units_and_unbiased(n, t):
    from math import comb

    from smpc_magic.protocols.shamir import prss, rounds, truncation

    rng = np.random.default_rng(11)  # test data, not shares
    xs = rng.integers(-(2**40), 2**40, 4000)
    x_shares = share(field.from_ints(xs), n, t, rounds.random_elements((t, 4000)))
    keys = prss.deal_keys(n, t)

    def party(channel, next_step):
        return truncation.truncate(channel, next_step, x_shares[channel.party], 16, 41, keys[channel.party], 3, t)

    results, network = _threads(n, party)
    got = field.centred(reconstruct(results, t))
    error = got - np.floor_divide(xs, 2**16)
    m = comb(n, t)
    centre = (m - 1) // 2 if m % 2 else m // 2
    assert error.min() >= -centre and error.max() <= m + 1 - centre
    assert abs((got - xs / 2**16).mean()) < 0.1  # unbiased against the exact quotient
    # what was opened hides x: it is x + 2**41 + R with R at least 2**40 times larger than x
    opened = [a for s, _, label, arrays in network.log if label == "truncation" for a in arrays][0]
    assert np.all(rounds.from_wire(opened, "p0", "truncation")["hi"] > 0)  # not a small number
