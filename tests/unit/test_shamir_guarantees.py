"""Exactly what the Shamir protocol guarantees against a site that sends false shares, for each
number of sites n, threshold t and verification mode (README, "Protocols" and "Threat model";
SECURITY.md). Each claim is run with a consistent liar: a party whose false share goes alike to
every other party and is the one it uses itself (a liar whose own view differs from what it sent
is easier to catch: its later shares no longer fit the others'):

- openings of degree t (releases, the disclosure bit, the protocol's masked openings):
  unchecked where verify is off; detected where n > 2t (always); named where n > 3t; corrected
  (``verify = "correct"``, which needs n > 3t) and named;
- inside a multiplication (the masked product is opened at degree 2t): detected only where
  n > 3t, named and corrected only where n > 4t; where n <= 3t (3 sites with t = 1; 5, 6 or 7
  sites with the default threshold) it is NOT noticed and the product is silently wrong;
- the division step with t = 1 (two sites share their quotients again; every fixed-point
  product ends with one) is not checked: a false quotient makes the result wrong unnoticed.
"""

import numpy as np
import pytest

from smpc_magic.errors import FalseShareError, SmpcError
from smpc_magic.protocols.channel import Message
from smpc_magic.protocols.registry import get_suite
from smpc_magic.protocols.shamir import arithmetic, field
from smpc_magic.protocols.shamir.opening import CORRECTED, DETECTED, NAMED, UNCHECKED, from_wire, guarantee, to_wire
from smpc_magic.protocols.shamir.polynomial import points
from smpc_magic.protocols.shamir.suite import ShamirSuite
from tests.unit.test_shamir_protocol import parties

pytestmark = pytest.mark.timeout(180)

VALUES = np.arange(-20, 20, dtype=np.int64) * 1_000_003

# (n, t, verify): (in openings of degree t, inside products), written out, not computed
TABLE = {
    (3, 1, "off"): (UNCHECKED, UNCHECKED),
    (3, 1, "detect"): (DETECTED, UNCHECKED),
    (4, 1, "detect"): (NAMED, DETECTED),
    (4, 1, "correct"): (CORRECTED, DETECTED),
    (5, 1, "detect"): (NAMED, NAMED),
    (5, 1, "correct"): (CORRECTED, CORRECTED),
    (5, 2, "detect"): (DETECTED, UNCHECKED),
    (6, 2, "detect"): (DETECTED, UNCHECKED),
    (7, 2, "detect"): (NAMED, DETECTED),
    (7, 2, "correct"): (CORRECTED, DETECTED),
    (9, 2, "correct"): (CORRECTED, CORRECTED),
}


def test_the_table_is_the_reference_texts_rule():
    for (n, t, verify), (openings, products) in TABLE.items():
        assert guarantee(n, t, verify, t) == openings and guarantee(n, t, verify, 2 * t) == products


class FalseProductSuite(ShamirSuite):
    """A site's modified software: it adds ``error`` to its degree-2t share of every product
    before the reduction round, so the masked share it sends to every site (and uses itself) is
    off the polynomial: a false share inside the multiplication."""

    def __init__(self, error):
        super().__init__()
        self.error = error

    def mul(self, ctx, x, y):
        product = field.add(field.mul(x, y), field.from_ints(np.full(np.shape(x), self.error)))
        return arithmetic.reduce_degree(ctx, product, "multiplication")


def lying_in_products(n, liar, error=1, **options):
    group = parties(n, **options)
    group.ctxs[liar].suite = FalseProductSuite(error)
    return group


class FalseDealing:
    """A dealer's channel that deals a consistent sharing of a wrong value in rounds with a label:
    it adds error * (x_j - x_me) to what it sends party j (a degree-1 polynomial that is 0 at its
    own point, so its own share stays as it was and the secret moves by -error * (0 - x_me))."""

    def __init__(self, channel, label, error):
        self.inner, self.label, self.error = channel, label, error
        self.party, self.n_parties = channel.party, channel.n_parties
        self.party_names, self.stats = channel.party_names, channel.stats

    def exchange(self, step, label, outgoing, expect):
        if label == self.label:
            xs = points(self.n_parties)
            changed = {}
            for j, m in outgoing.items():
                shift = self.error * (xs[j] - xs[self.party])
                arrays = [
                    to_wire(field.add(from_wire(a, "me", label), field.from_ints(np.full(a.shape[:-1], shift))))
                    for a in m.arrays
                ]
                changed[j] = Message(arrays, m.meta)
            outgoing = changed
        return self.inner.exchange(step, label, outgoing, expect)


def outcomes(group, fn, shares):
    def body(ctx, s):
        try:
            return fn(ctx, s)
        except SmpcError as exc:
            return exc

    return group.run(body, shares)


def square_then_reveal(ctx, s):
    product = ctx.suite.mul(ctx, s, s)
    return field.centred(ctx.suite.open(ctx, [product], "reveal")[0])


def double_then_reveal(ctx, s):
    return field.centred(ctx.suite.open(ctx, [ctx.suite.add(s, s)], "reveal")[0])


def check(group, liar, results, expected, what, right):
    honest = [i for i in range(group.n) if i != liar]
    name = f"p{liar}"
    if expected == UNCHECKED:  # no error, no notice, and the value is wrong
        for i in honest:
            assert not isinstance(results[i], Exception), results[i]
            assert results[i].tolist() != right.tolist()
            assert not group.ctxs[i].notices
    elif expected == CORRECTED:
        for i in honest:
            assert results[i].tolist() == right.tolist()
            assert any(f"party '{name}' sent false shares" in note and what in note for note in group.ctxs[i].notices)
    else:
        for i in honest:
            assert isinstance(results[i], FalseShareError), results[i]
            assert f"'{what}'" in str(results[i]) and "nothing was released" in str(results[i])
            assert results[i].parties == ((name,) if expected == NAMED else ())


@pytest.mark.parametrize("n,t,verify", sorted(TABLE))
def test_a_false_share_inside_a_product(n, t, verify):
    liar = 1
    group = lying_in_products(n, liar, threshold=t, verify=verify)
    shares, _ = group.share(VALUES)
    results = outcomes(group, square_then_reveal, shares)
    check(group, liar, results, TABLE[(n, t, verify)][1], "multiplication", VALUES * VALUES)


@pytest.mark.parametrize("n,t,verify", sorted(TABLE))
def test_a_false_share_in_an_opening(n, t, verify):
    liar = 1
    group = parties(n, liar=liar, label="reveal", threshold=t, verify=verify)
    shares, _ = group.share(VALUES)
    results = outcomes(group, double_then_reveal, shares)
    check(group, liar, results, TABLE[(n, t, verify)][0], "reveal", 2 * VALUES)


def test_a_moderate_false_share_inside_a_product_with_three_sites_is_the_documented_limit():
    # the audit's case: with 3 sites (t = 1) the masked product is opened at degree 2 from exactly
    # 3 shares, so any 3 values fit a polynomial; an error of 1 in one site's product share moves
    # every product by a small amount (its Lagrange weight, -3 at x = 2) and nobody can notice
    group = lying_in_products(3, liar=1, error=1)
    shares, _ = group.share(VALUES)
    results = outcomes(group, square_then_reveal, shares)
    for i in (0, 2):
        assert (results[i] - VALUES * VALUES).tolist() == [-3] * len(VALUES)
        assert not group.ctxs[i].notices


def test_a_liar_whose_own_view_differs_is_caught_at_the_next_checked_opening_even_with_three_sites():
    # only what it sends is false, its own product share is not: the reduced shares no longer lie
    # on one degree-1 polynomial, which the release's opening (degree t) detects
    group = parties(3, liar=1, label="multiplication")
    shares, _ = group.share(VALUES)
    results = outcomes(group, square_then_reveal, shares)
    assert isinstance(results[0], FalseShareError) and "'reveal'" in str(results[0])


def test_the_detection_error_inside_a_product_says_why_it_cannot_be_corrected():
    group = lying_in_products(4, liar=2, threshold=1, verify="correct")
    shares, _ = group.share(VALUES)
    results = outcomes(group, square_then_reveal, shares)
    message = str(results[0])
    assert "degree 2t = 2" in message and "neither correct it nor tell whose" in message and "n > 4t" in message


@pytest.mark.parametrize("n,verify", [(3, "detect"), (4, "correct")])
def test_a_false_quotient_in_the_division_step_with_t_1_is_not_noticed(n, verify):
    divisor = 1 << 16
    xs = np.arange(0, 40, dtype=np.int64) << 20
    group = parties(n, threshold=1, verify=verify)
    shares, _ = group.share(xs)
    group.ctxs[0].channel = FalseDealing(group.ctxs[0].channel, "truncation", 5)  # party 0 divides

    def divide_then_reveal(ctx, s):
        return field.centred(ctx.suite.open(ctx, [ctx.suite.div_public(ctx, s, divisor)], "reveal")[0])

    results = outcomes(group, divide_then_reveal, shares)
    for i in range(1, n):
        assert not isinstance(results[i], Exception), results[i]
        assert not group.ctxs[i].notices
    error = results[1] - xs // divisor
    assert np.abs(error).min() >= 4  # the division's own error is below one unit: off by the false 5
    assert all(r.tolist() == results[1].tolist() for r in results[1:])


@pytest.mark.parametrize(
    "n,options,text",
    [
        (3, {}, "in openings false shares are detected; inside products (opened at degree 2t) false shares are not"),
        (
            4,
            {},
            "in openings false shares are detected and named; inside products (opened at degree 2t) false "
            "shares are detected",
        ),
        (
            4,
            {"verify": "correct"},
            "in openings false shares are corrected and named; inside products (opened at "
            "degree 2t) false shares are detected",
        ),
        (
            5,
            {"threshold": 1, "verify": "correct"},
            "inside products (opened at degree 2t) false shares are corrected and named",
        ),
        (3, {"verify": "off"}, "shares are not checked"),
    ],
)
def test_a_sessions_status_says_what_is_checked(n, options, text):
    described = get_suite("shamir").describe(n, options)
    assert text in described, described
