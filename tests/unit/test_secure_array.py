"""The SecretArray surface: operators, numpy dispatch, shapes, and refusals."""

import numpy as np
import pytest

from smpc_magic.errors import SecretValueError
from smpc_magic.secret.array import SecretArray
from tests.support.inmemory import InMemoryParties
from tests.support.numeric import ULP

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("protocol")]


@pytest.fixture
def parties(protocol):
    return InMemoryParties(3)


def test_linear_operations_with_public_values(parties):
    x = np.array([[1.5, -2.0, 3.25], [4.0, 0.0, -1.0]])
    got = parties.compute(lambda a: (2 * a - 1) / 4 + a * 0.5 - (3 - a), x)
    np.testing.assert_allclose(got, (2 * x - 1) / 4 + x * 0.5 - (3 - x), atol=3 * ULP)


def test_secret_plus_secret_mixes_integer_and_fixed(parties):
    got = parties.compute(lambda a, b: a + b - a * b, np.array([1, 2, 3]), np.array([0.5, -0.25, 2.0]))
    np.testing.assert_allclose(got, [1.0, 2.25, -1.0], atol=ULP)


def test_reductions_along_axes(parties):
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 7 - 1
    np.testing.assert_allclose(parties.compute(lambda a: a.sum(axis=1), x), x.sum(axis=1), atol=ULP * 4)
    np.testing.assert_allclose(parties.compute(lambda a: np.mean(a, axis=(0, 2)), x), x.mean(axis=(0, 2)), atol=3 * ULP)
    np.testing.assert_allclose(parties.compute(lambda a: np.sum(a), x), x.sum(), atol=ULP * 24)
    np.testing.assert_allclose(parties.compute(lambda a: a.mean(), np.arange(10)), 4.5, atol=ULP)


def test_numpy_dispatch(parties):
    x = np.array([1.0, 2.0, 3.0])
    y = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(parties.compute(lambda a, b: np.dot(a, b), x, y), x @ y, atol=ULP)
    np.testing.assert_allclose(parties.compute(lambda a, b: np.concatenate([a, b, [7.0]]), x, y), np.r_[x, y, 7.0])
    np.testing.assert_allclose(parties.compute(lambda a, b: np.stack([a, b], axis=1), x, y), np.stack([x, y], 1))
    np.testing.assert_allclose(
        parties.compute(lambda a, b: np.add(a, b) * np.multiply(a, 2), x, y), (x + y) * 2 * x, atol=ULP
    )
    np.testing.assert_allclose(parties.compute(lambda a: np.transpose(np.reshape(a, (3, 1))), x), x.reshape(3, 1).T)
    np.testing.assert_allclose(
        parties.compute(lambda a: np.array([[1.0, 2, 3]]) @ a, x), [x.sum() + x[1] + 2 * x[2]], atol=ULP
    )


def test_shapes_indexing_and_slicing(parties):
    X = np.arange(12.0).reshape(4, 3)

    def body(a):
        assert a.shape == (4, 3) and a.ndim == 2 and len(a) == 4 and a.T.shape == (3, 4)
        return np.concatenate([a[1:3, 0], a[-1], a[[0, 2], 2]])

    np.testing.assert_allclose(parties.compute(body, X), np.r_[X[1:3, 0], X[-1], X[[0, 2], 2]])


def test_setitem_with_public_index(parties):
    def body(a):
        b = a.copy()
        b[0] = 5
        b[2] = a[1] * 2
        return b

    np.testing.assert_allclose(parties.compute(body, np.array([1.0, 2.0, 3.0])), [5.0, 2.0, 4.0], atol=ULP)


def test_small_public_multiplier_keeps_relative_precision(parties):
    x = np.array([1234.5, -987.25, 10000.0])
    got = parties.compute(lambda a: a * 0.0001234 + a / 3.7, x)
    np.testing.assert_allclose(got, x * 0.0001234 + x / 3.7, rtol=1e-6, atol=2 * ULP)


def test_pooled_mean_precision_with_large_count(parties):
    x = np.linspace(40, 60, 300_001)
    np.testing.assert_allclose(parties.compute(lambda a: a.mean(), x), x.mean(), rtol=1e-6)


def test_repr_shows_no_value_and_plaintext_uses_are_refused(parties):
    shares, scale = parties.share(np.array([42.0, 17.0]))
    secret = SecretArray(parties.ctxs[0], shares[0], scale)
    text = repr(secret)
    assert "shape=(2,)" in text and "3 parties" in text and "42" not in text
    for use in (bool, float, int, str, lambda s: f"{s}", np.asarray, lambda s: s[secret]):
        with pytest.raises(SecretValueError, match="--reveal"):
            use(secret)
    with pytest.raises(SecretValueError):
        if secret:
            pass
    with pytest.raises(SecretValueError, match="np.sin"):
        np.sin(secret)
    with pytest.raises(SecretValueError, match="np.median"):
        np.median(secret)
    with pytest.raises(ZeroDivisionError):
        secret / 0


def test_numpy_methods_analysts_reach_for_work_on_secrets_or_say_what_to_use():
    from smpc_magic.errors import SecretValueError
    from tests.support.inmemory import InMemoryParties

    parties = InMemoryParties(3)
    x = np.array([3.375, -1.25, 7.0, 2.0, 6.875])

    def methods(v):
        return np.concatenate(
            [
                np.stack([v.max(), v.min(), v.argmax(), v.argmin(), v.var(), v.std(), v.var(ddof=1)]),
                v.clip(0, 5),
                v.astype(int),
                v.astype(int).astype(float),
            ]
        )

    out = parties.compute(methods, x)
    expected = [7.0, -1.25, 2, 1, x.var(), x.std(), x.var(ddof=1), *np.clip(x, 0, 5), *np.round(x), *np.round(x)]
    np.testing.assert_allclose(out, expected, rtol=1e-3, atol=1e-3)

    def refused(v):
        try:
            v.round(2)
        except SecretValueError as exc:
            assert "digits their precision supports" in str(exc)
        else:
            raise AssertionError("round(x, 2) of a secret must refuse")
        try:
            np.array([v.sum(), v.mean()])
        except SecretValueError as exc:
            assert "np.stack" in str(exc)
        else:
            raise AssertionError("np.array of secrets must refuse")
        return v.sum()

    parties.compute(refused, x)
