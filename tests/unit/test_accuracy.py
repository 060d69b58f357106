"""Accuracy carried beside magnitude: every secret's error bound holds against numpy, functions
included, and a release whose error is beyond what it promises stops before anything is sent."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from smpc_magic.errors import OverflowRiskError, PrecisionError
from smpc_magic.secret import accuracy
from smpc_magic.secret import lib as smpc
from smpc_magic.secret.array import SecretArray
from smpc_magic.secret.bounds import Bound
from smpc_magic.secret.core import reveal
from tests.support.inmemory import InMemoryParties

PARTIES = InMemoryParties(3)

FUNCTIONS = {
    "exp": (smpc.exp, np.exp, (-12.0, 10.0)),
    "log": (smpc.log, np.log, (0.01, 1e5)),
    "sqrt": (smpc.sqrt, np.sqrt, (0.0, 1e5)),
    "rsqrt": (smpc.rsqrt, lambda v: 1 / np.sqrt(v), (0.01, 1e4)),
    "reciprocal": (smpc.reciprocal, lambda v: 1 / v, (0.05, 1e4)),
    "sigmoid": (smpc.sigmoid, lambda v: 1 / (1 + np.exp(-v)), (-40.0, 40.0)),
    "tanh": (smpc.tanh, np.tanh, (-10.0, 10.0)),
}


def _secret(ctx, share, scale, lo, hi):
    return SecretArray(ctx, share, scale, Bound.of(lo, hi, 1).widen(2.0**-scale if scale else 0.0))


@st.composite
def cases(draw):
    name = draw(st.sampled_from(sorted(FUNCTIONS)))
    lo, hi = FUNCTIONS[name][2]
    values = np.array([draw(st.floats(lo, hi)) for _ in range(draw(st.integers(1, 6)))])
    # the input may come from arithmetic that carries an error of its own: x * factor + shift
    factor = draw(st.sampled_from([1.0, 0.1, 0.5, 3.0]))
    return name, values, factor


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_a_functions_result_is_within_its_carried_error_of_numpy(case):
    name, values, factor = case
    fn, reference, (lo, hi) = FUNCTIONS[name]
    raw = values / factor  # the secret input; the function sees raw * factor, as computed
    shares, scale = PARTIES.share(raw)

    def body(ctx, share):
        x = _secret(ctx, share, scale, lo / factor, hi / factor) * factor
        out = fn(x)
        opened = reveal({"x": x, "out": out})
        return opened["x"], opened["out"], out._bound.error(), x._bound.error()

    x, out, error, x_error = PARTIES.run(body, shares)[0]
    # the exact result of the same operations on the input as declared (numpy on the raw values)
    exact = reference(np.clip(raw * factor, lo, hi))
    assert np.abs(x - raw * factor).max() <= x_error + 1e-12
    if not np.isfinite(error):
        # the input's absolute error reaches its smallest possible value (1e6 * 0.1 rounds 0.1
        # to 2**-24 relative: 0.05 absolute, beyond 0.01): a release would be refused
        assert name in ("log", "reciprocal", "rsqrt") and x_error >= lo
        return
    assert np.abs(out - exact).max() <= error, (name, values, factor, out, exact, error)


@st.composite
def programs(draw):
    """A random cell program: 1 to 3 functions in a row, each input brought into the next
    function's domain by a public affine map (as a cell rescales), with a secret product or sum
    of two of the program's values at the end."""
    steps = draw(st.lists(st.sampled_from(sorted(FUNCTIONS)), min_size=1, max_size=3))
    values = np.array([draw(st.floats(0.0, 1.0)) for _ in range(draw(st.integers(1, 5)))])
    combine = draw(st.sampled_from(["add", "mul", "none"]))
    return steps, values, combine


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_every_value_of_a_random_program_is_within_its_carried_error_of_numpy(program):
    steps, values, combine = program
    shares, scale = PARTIES.share(values)

    def affine(lo, hi, domain):
        """a, b with a [lo, hi] + b inside the function's domain (a margin from its ends)."""
        d_lo, d_hi = domain
        span = max(hi - lo, 1e-9)
        a = 0.8 * (d_hi - d_lo) / span
        return a, d_lo + 0.1 * (d_hi - d_lo) - a * lo

    def body(ctx, share):
        x = _secret(ctx, share, scale, 0.0, 1.0)
        chain, exact = [x], values.copy()
        lo, hi = 0.0, 1.0
        for name in steps:
            fn, reference, domain = FUNCTIONS[name]
            a, b = affine(lo, hi, domain)
            y = fn(chain[-1] * a + b)
            exact = reference(exact * a + b)
            chain.append(y)
            lo, hi = float(np.min(y._bound.lo)), float(np.max(y._bound.hi))
        last = chain[-1]
        if combine == "add":
            last, exact = last + chain[0], exact + values
        elif combine == "mul":
            last, exact = last * chain[0], exact * values
        opened = reveal({"out": last})["out"]
        return opened, exact, last._bound.error()

    out, exact, error = PARTIES.run(body, shares)[0]
    event("bounded error" if np.isfinite(error) else "unbounded error (a release would be refused)")
    if np.isfinite(error):
        assert np.abs(out - exact).max() <= error, (steps, combine, values, out, exact, error)


def test_division_carries_both_operands_errors():
    a, b = np.array([5.0, 120.0, 0.3]), np.array([2.5, 40.0, 0.7])
    (sa, ka), (sb, kb) = PARTIES.share(a), PARTIES.share(b)

    def body(ctx, x, y):
        q = _secret(ctx, x, ka, 0, 200) * 0.1 / _secret(ctx, y, kb, 0.5, 50)
        return reveal({"q": q})["q"], q._bound.error()

    q, error = PARTIES.run(body, sa, sb)[0]
    assert np.abs(q - a * 0.1 / b).max() <= error < 1e-3 * 40 * 2.1  # 1e-3 of the range 40, and the inputs


def test_a_release_that_could_be_far_off_stops_before_anything_is_sent():
    # 1 / x for x in [0, 10]: near 0 one unit of x's last place moves 1/x without limit
    shares, scale = PARTIES.share(np.array([0.25, 3.0]))

    def body(ctx, share):
        x = _secret(ctx, share, scale, 0.0, 10.0) * 0.5
        out = smpc.reciprocal(x)
        before = ctx.step
        try:
            accuracy.check_release({"out": out}, ctx.frac_bits)
        except PrecisionError as exc:
            return str(exc), before, ctx.step
        return None, before, ctx.step

    results = PARTIES.run(body, shares)
    for message, before, after in results:
        assert message is not None and before == after
        assert "releasing out" in message and "positive minimum for a divisor" in message


def test_a_release_within_its_accuracy_passes_a_statistics_value_carries_its_stated_accuracy():
    shares, scale = PARTIES.share(np.array([2.0, 3.0]))

    def body(ctx, share):
        x = _secret(ctx, share, scale, 1.0, 10.0)
        fine = smpc.reciprocal(x).sum()
        accuracy.check_release({"fine": fine}, ctx.frac_bits)  # no error
        # a statistic states its accuracy (a generic bound through a divisor near 0 would not)
        stated = accuracy.stated_by_statistic(smpc.reciprocal(x * 0.5 - 0.5))
        accuracy.check_release({"stated": stated}, ctx.frac_bits)
        unknown = smpc.reciprocal(x)
        unknown._bound = unknown._bound.with_error(np.full((1,), np.nan))  # an unbounded error times 0
        with pytest.raises(PrecisionError):
            accuracy.check_release({"unknown": unknown}, ctx.frac_bits)
        return fine._bound.error(), stated._bound.error(), stated._bound.magnitude(), 2.0**-stated._scale

    for fine, stated, magnitude, ulp in PARTIES.run(body, shares):
        assert 0 < fine < 1e-3
        assert stated == pytest.approx(accuracy.STATISTIC_RELATIVE * magnitude + 4 * ulp)


def test_the_check_is_removed_and_the_far_off_value_is_released(monkeypatch):
    # the defence matters: without the check, 1 / x of a value near 0 opens a number that is
    # off by far more than the display's digits suggest
    monkeypatch.setattr(accuracy, "RELATIVE", np.inf)
    shares, scale = PARTIES.share(np.array([0.001]))

    def body(ctx, share):
        out = smpc.reciprocal(_secret(ctx, share, scale, 0.0, 10.0) * 0.5)
        accuracy.check_release({"out": out}, ctx.frac_bits)
        return reveal({"out": out})["out"]

    value = PARTIES.run(body, shares)[0]
    assert abs(value - 1 / 0.0005) > 10  # 1/0.0005 = 2000, computed from an input held to 2**-17


def test_overflow_is_still_raised_before_precision():
    shares, scale = PARTIES.share(np.array([1.0]))

    def body(ctx, share):
        with pytest.raises(OverflowRiskError):
            smpc.exp(_secret(ctx, share, scale, 0.0, 20.0))

    PARTIES.run(body, shares)


def test_an_unbounded_input_error_gives_an_unbounded_result_error_not_a_crash():
    # a rate ratio's exp of a log whose error bound is enormous stopped the cell with Python's
    # "math range error" (OverflowError) instead of carrying an unbounded error on
    bound = Bound.of(-5.0, 5.0, 1)
    assert accuracy.exp_error(bound, 1e6, 1.0) > 1e300
    assert accuracy.log_error(bound, 1e6, 1.0) == np.inf
    assert accuracy.reciprocal_error(bound, np.inf, 1.0) == np.inf
