"""The Shamir suite with in-memory parties: checked openings that detect or correct a false
share (naming the party where the shares allow), the settings a session may choose, PRSS
randomness (double sharings, random bits, division masks) and input sharing.

The whole secret-array, function and statistics suites also run under this protocol (the
``protocol`` fixture); this file covers what is particular to it."""

import itertools
from math import comb

import numpy as np
import pytest

from smpc_magic.errors import FalseShareError, SmpcError
from smpc_magic.launch.faults import false_shares
from smpc_magic.protocols.channel import ChannelMismatch
from smpc_magic.protocols.shamir import arithmetic, comparison, field, prss
from smpc_magic.protocols.shamir.opening import check_settings, from_wire, open_shares, to_wire
from smpc_magic.protocols.shamir.polynomial import open_checked, reconstruct
from tests.support.inmemory import InMemoryParties

pytestmark = pytest.mark.timeout(120)


class Tampering:
    """A party's channel that changes what it sends in rounds with a label (a false share)."""

    def __init__(self, channel, label):
        self.inner, self.tamper = channel, false_shares(label)
        self.party, self.n_parties = channel.party, channel.n_parties
        self.party_names, self.stats = channel.party_names, channel.stats

    def exchange(self, step, label, outgoing, expect):
        from smpc_magic.protocols.channel import Message

        changed = {j: Message(self.tamper(j, label, m.arrays), m.meta) for j, m in outgoing.items()}
        return self.inner.exchange(step, label, changed, expect)


def parties(n, liar=None, label="reveal", **options):
    group = InMemoryParties(n, suite="shamir", options=options)
    if liar is not None:
        group.ctxs[liar].channel = Tampering(group.ctxs[liar].channel, label)
    return group


def outcomes(group, fn, *args):
    """Each party's result or exception (the in-memory runner raises the first one only)."""

    def body(ctx, *a):
        try:
            return fn(ctx, *a)
        except SmpcError as exc:
            return exc

    return group.run(body, *args)


def reveal_sum(ctx, share):
    doubled = ctx.suite.add(share, share)
    return ctx.suite.codec.decode(ctx.suite.open(ctx, [doubled], "reveal")[0], 0)


VALUES = np.arange(-50, 50, dtype=np.int64)


def test_settings_a_session_may_choose_and_the_errors_that_say_why_not():
    assert check_settings(3, None, None) == (1, "detect")
    assert check_settings(5, None, None) == (2, "detect")
    assert check_settings(5, 1, "correct") == (1, "correct")
    with pytest.raises(SmpcError, match="at least 3 sites.*additive"):
        check_settings(2, None, None)
    with pytest.raises(SmpcError, match="threshold 2 does not work with 4 sites.*at most 1"):
        check_settings(4, 2, None)
    with pytest.raises(SmpcError, match='"correct" needs n - t > 2t'):
        check_settings(3, 1, "correct")
    with pytest.raises(SmpcError, match="not a verification mode"):
        check_settings(4, 1, "repair")


def test_three_parties_detect_a_false_share_but_cannot_tell_whose():
    group = parties(3, liar=1)
    shares, _ = group.share(VALUES)
    results = outcomes(group, reveal_sum, shares)
    for honest in (0, 2):
        assert isinstance(results[honest], FalseShareError)
        assert "cannot be told which" in str(results[honest]) and results[honest].parties == ()
        assert "'reveal'" in str(results[honest]) and "nothing was released" in str(results[honest])


def test_four_parties_detect_and_name_the_party_that_lied():
    group = parties(4, liar=2)
    shares, _ = group.share(VALUES)
    results = outcomes(group, reveal_sum, shares)
    for honest in (0, 1, 3):
        assert isinstance(results[honest], FalseShareError) and results[honest].parties == ("p2",)
        assert "party 'p2' sent shares that do not fit" in str(results[honest])


@pytest.mark.parametrize("n", [4, 5])
def test_correction_mode_releases_the_right_value_and_names_the_party(n):
    group = parties(n, liar=1, verify="correct", threshold=1)
    shares, _ = group.share(VALUES)
    results = group.run(reveal_sum, shares)
    for i in range(n):
        np.testing.assert_array_equal(results[i], 2 * VALUES)
    for i in (0, *range(2, n)):
        assert any("party 'p1' sent false shares" in note for note in group.ctxs[i].notices)
    assert not group.ctxs[1].notices  # the liar's own view is consistent


def test_a_false_share_inside_a_multiplication_is_caught_where_the_degree_allows():
    group = parties(4, liar=3, label="multiplication")  # n - 2t = 2 > t: detected, not named
    shares, scale = group.share(VALUES)

    def square(ctx, s):
        return ctx.suite.mul(ctx, s, s)

    results = outcomes(group, square, shares)
    assert all(isinstance(results[i], FalseShareError) for i in (0, 1, 2))
    assert "'multiplication'" in str(results[0])


def test_verification_off_uses_the_first_shares_unchecked():
    group = parties(3, liar=2, verify="off")  # party 3's share is not among the first t + 1
    shares, _ = group.share(VALUES)
    results = group.run(reveal_sum, shares)
    np.testing.assert_array_equal(results[0], 2 * VALUES)


def test_peer_words_outside_the_field_are_refused():
    words = to_wire(field.from_ints(np.array([1, 2, 3])))
    assert field.to_ints(from_wire(words, "p1", "x")) == [1, 2, 3]
    words[1] = [np.uint64((1 << 64) - 1), np.uint64((1 << 63) - 1)]  # p itself: not canonical
    with pytest.raises(ChannelMismatch, match="'p1' sent a value outside the field"):
        from_wire(words, "p1", "x")


@pytest.mark.parametrize("n,t", [(3, 1), (5, 2), (4, 1)])
def test_pseudo_random_sharing_gives_consistent_shares_of_a_value_no_t_parties_know(n, t):
    keys = prss.deal_keys(n, t)
    shares = [prss.random_shares(i, n, keys[i], label=7, count=200) for i in range(n)]
    assert not open_checked(shares, degree=t, max_false=0, correct=False).inconsistent
    all_keys = {a: k for held in keys for a, k in held.items()}
    value = prss.value_of(all_keys, n, label=7, count=200)
    assert field.to_ints(reconstruct(shares, t)) == field.to_ints(value)
    assert len(set(field.to_ints(value))) == 200
    for coalition in itertools.combinations(range(n), t):  # any t miss the key of all the others
        known = set().union(*(keys[i] for i in coalition))
        assert tuple(j for j in range(n) if j not in coalition) not in known
    other = [prss.random_shares(i, n, keys[i], label=8, count=200) for i in range(n)]
    assert set(field.to_ints(reconstruct(other, t))).isdisjoint(field.to_ints(value))
    # zero sharings of degree 2t: zero, and its higher coefficients are not zero
    zeros = [prss.zero_shares(i, n, t, keys[i], label=9, count=200) for i in range(n)]
    assert field.to_ints(reconstruct(zeros, 2 * t)) == [0] * 200
    assert not open_checked(zeros, degree=2 * t, max_false=0, correct=False).inconsistent
    assert open_checked(zeros, degree=t, max_false=0, correct=False).inconsistent  # truly degree 2t
    # random bits: one per key set, each a 0/1 value on a degree-t polynomial
    bits = [prss.random_bits(i, n, t, keys[i], label=10, count=300) for i in range(n)]
    for k in range(comb(n, t)):
        opened = field.to_ints(reconstruct([bits[i][k] for i in range(n)], t))
        assert set(opened) == {0, 1}


@pytest.mark.parametrize("n", [3, 4])
def test_double_sharings_and_a_multiplication_open_only_masked_products(n):
    group = parties(n)
    xs = np.arange(1, 301, dtype=np.int64) * 1_000_003
    shares, _ = group.share(xs)

    def body(ctx, s):
        r_t, r_2t = arithmetic.double_sharing(ctx, 300)
        rounds = ctx.channel.stats.rounds
        product = ctx.suite.mul(ctx, s, s)
        return r_t, r_2t, ctx.channel.stats.rounds - rounds, product

    results = group.run(body, shares)
    t = 1
    assert all(r[2] == 1 for r in results)  # one round per multiplication, no dealer
    r_t, r_2t = reconstruct([r[0] for r in results], t), reconstruct([r[1] for r in results], 2 * t)
    assert field.to_ints(r_t) == field.to_ints(r_2t) and len(set(field.to_ints(r_t))) == 300
    assert field.centred(reconstruct([r[3] for r in results], t)).tolist() == (xs * xs).tolist()
    opened = group.network.opened("multiplication", combine=lambda a, b: a)  # each sender's words
    sent = [from_wire(a, "p", "multiplication") for a in opened]
    assert not set(field.to_ints(sent[0])) & {int(v) for v in xs * xs}


@pytest.mark.parametrize("n,threshold", [(3, 1), (4, 1), (5, 2)])
def test_division_by_public_integers_is_within_its_units_and_unbiased(n, threshold):
    group = parties(n, threshold=threshold)
    rng = np.random.default_rng(11)  # test data, not shares
    xs = np.concatenate([rng.integers(-(2**61), 2**61, 3000), [0, 0, 5, -5]])
    shares, _ = group.share(xs)
    for divisor in (1 << 16, 1000, 3):
        results = group.run(lambda ctx, s, d=divisor: ctx.suite.div_public(ctx, s, d), shares)
        got = field.centred(reconstruct(results, threshold))
        error = (got * divisor - xs) / divisor  # exact in integers first: xs / d in floats is not
        units = 1.0 if threshold == 1 else comb(n, threshold) / 2 + 1
        assert np.abs(error).max() <= units, (divisor, np.abs(error).max())
        assert abs(error.mean()) < 0.1
    zeros = group.run(lambda ctx: ctx.suite.div_public(ctx, ctx.suite.constant(ctx, field.zeros((50,))), 1 << 16))
    assert np.abs(field.centred(reconstruct(zeros, threshold))).max() <= units  # a non-random sharing too


@pytest.mark.parametrize("n", [3, 5])
def test_comparison_always_returns_a_bit_and_is_exact_in_range(n):
    group = parties(n)
    xs = np.array([0, 1, -1, 2**20, -(2**20), 2**40 - 1, -(2**40), 7, -7], dtype=np.int64)
    shares, _ = group.share(xs)
    for bits, exact in ((41, True), (62, True), (8, False)):
        results = group.run(
            lambda ctx, s, b=bits: ctx.suite.open(ctx, [comparison.ltz(ctx, s, b)], "reveal")[0], shares
        )
        got = field.centred(results[0])
        assert set(got.tolist()) <= {0, 1}
        in_range = np.abs(xs) < 2**bits
        assert got[in_range].tolist() == (xs[in_range] < 0).astype(int).tolist()
        assert exact or not in_range.all()


def test_inputs_are_shared_with_seeds_and_one_round_and_randomness_is_never_reused():
    group = parties(3)
    shares, _ = group.share(VALUES)
    assert not open_checked(shares, degree=1, max_false=1, correct=False).inconsistent
    assert field.centred(reconstruct(shares, 1)).tolist() == VALUES.tolist()
    assert all(
        np.mean(np.array(field.to_ints(s), dtype=object) != [int(v) % field.P for v in VALUES]) > 0.9 for s in shares
    )
    keys_first = [dict(ctx.material.keys) for ctx in group.ctxs]
    labels_before = [ctx.material.next_label for ctx in group.ctxs]
    group.run(lambda ctx, s: ctx.suite.mul(ctx, s, s), shares)
    assert all(ctx.material.next_label > before for ctx, before in zip(group.ctxs, labels_before))
    group.share(VALUES)  # a new computation's rendezvous: fresh keys everywhere
    for ctx, before in zip(group.ctxs, keys_first):
        assert set(ctx.material.keys) == set(before) and all(ctx.material.keys[a] != before[a] for a in before)


def test_open_to_some_parties_only():
    group = parties(4)
    shares, _ = group.share(VALUES)
    results = group.run(lambda ctx, s: open_shares(ctx, [s], "reveal", 1, to=[2]), shares)
    assert results[0] is None and results[1] is None and results[3] is None
    assert field.centred(results[2][0]).tolist() == VALUES.tolist()
