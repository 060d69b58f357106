"""The non-linear functions under simulate: three real party processes and a dealer."""

import numpy as np
import pytest

from smpc_magic import simulate
from tests.support.numeric import fixed, within_relative

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

CELL = """
lt = (x < y)
eq = (k == j)
big = smpc.max(x)
where = smpc.where(x < y, x, y)
inv = smpc.reciprocal(pos)
ratio = y / pos
root = np.sqrt(wide)
e = np.exp(small)
lg = np.log(wide2)
sig = smpc.sigmoid(s)
th = np.tanh(s)
sm = smpc.softmax(grid, axis=1)
"""


close = within_relative


@pytest.mark.parametrize("protocol", ["additive", "shamir"])
def test_functions_with_three_parties(protocol):
    grid = np.linspace(-1, 1, 40)
    x, y = fixed(np.sin(grid * 7) * 50), fixed(np.cos(grid * 5) * 50)
    k, j = np.arange(40) % 7, np.arange(40) % 5
    pos = fixed(10.0 ** np.linspace(-1, 4, 40))  # 1/x at 16 bits: an input near 0.005 is 1e-3 off
    wide = fixed(10.0 ** np.linspace(-3, 6, 40))
    wide2 = fixed(10.0 ** np.linspace(-2, 6, 40))
    small = fixed(np.linspace(-10, 10, 40))
    s = fixed(np.linspace(-30, 30, 40))
    g = fixed(np.linspace(-8, 8, 40).reshape(4, 10))
    out = simulate(
        CELL,
        {
            "a": {"x": x, "k": k, "pos": pos, "small": small, "grid": g},
            "b": {"y": y, "j": j, "wide": wide, "s": s},
            "c": {"wide2": wide2},
        },
        "lt eq big where inv ratio root e lg sig th sm",
        timeout=120,
        protocol=protocol,
        ranges={
            **{"x": (-50, 50), "y": (-50, 50), "k": (0, 6), "j": (0, 4), "pos": (0.05, 1e4)},
            **{"wide": (5e-4, 1e6), "wide2": (0.005, 1e6), "small": (-10, 10), "s": (-30, 30), "grid": (-8, 8)},
        },
    )
    np.testing.assert_array_equal(out["lt"], (x < y).astype(int))
    np.testing.assert_array_equal(out["eq"], (k == j).astype(int))
    assert out["big"] == x.max()
    np.testing.assert_array_equal(out["where"], np.where(x < y, x, y))
    close(out["inv"], 1 / pos)
    close(out["ratio"], y / pos)
    close(out["root"], np.sqrt(wide))
    close(out["e"], np.exp(small))
    assert np.abs(out["lg"] - np.log(wide2)).max() <= 1e-3
    assert np.abs(out["sig"] - 1 / (1 + np.exp(-s))).max() <= 1e-3
    assert np.abs(out["th"] - np.tanh(s)).max() <= 1e-3
    ex = np.exp(g - g.max(axis=1, keepdims=True))
    assert np.abs(out["sm"] - ex / ex.sum(axis=1, keepdims=True)).max() <= 1e-3
