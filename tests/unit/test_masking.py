"""What a curious party learns during multiplication, truncation and comparison is uniformly
random: the same secret is opened many times, and every value opened must look uniform (a
chi-square test on several bytes of each 64-bit word). These tests fail if a mask is removed."""

import numpy as np
import pytest
from scipy import stats

from tests.support.inmemory import InMemoryParties

pytestmark = pytest.mark.timeout(120)
N = 1 << 14  # elements opened per round: 64 per bin of a byte's 256 values
P_FLOOR = 1e-6  # a uniform source fails this with probability 1e-6 per byte tested


def assert_uniform(words: list[np.ndarray], what: str, packed: bool = False) -> None:
    """Chi-square on a low, a middle and the top byte of every opened word; for bit-packed
    openings (64 elements a word) on every byte of them."""
    assert words, f"nothing was opened at {what}"
    data = np.concatenate([np.asarray(w, dtype=np.uint64).reshape(-1) for w in words])
    samples = (
        {"all bytes": data.view(np.uint8)}
        if packed
        else {
            f"byte at bit {shift}": ((data >> np.uint64(shift)) & np.uint64(0xFF)).astype(np.uint8)
            for shift in (0, 24, 56)
        }
    )
    for where, values in samples.items():
        assert values.size >= 2048, f"too few values opened at {what} to test"
        p = stats.chisquare(np.bincount(values, minlength=256)).pvalue
        assert p > P_FLOOR, f"values opened at {what} are not uniform ({where}: p = {p:.2g})"


def run(parties: InMemoryParties, fn, *values) -> None:
    parties.compute(fn, *values)


def test_beaver_openings_are_uniform():
    parties = InMemoryParties(3)
    same = np.full(N, 3.0)
    run(parties, lambda a, b: a * b, same, same)
    assert_uniform(parties.network.opened("beaver multiply"), "beaver multiply")


def test_matrix_and_gram_openings_are_uniform():
    parties = InMemoryParties(3)
    same = np.full((N // 8, 8), 2.5)
    run(parties, lambda a: a.T @ a, same)
    assert_uniform(parties.network.opened("gram matrix"), "gram matrix")
    parties = InMemoryParties(2)
    run(parties, lambda a, b: a @ b.T, same, same)
    assert_uniform(parties.network.opened("matrix multiply"), "matrix multiply")


def test_truncation_openings_are_uniform():
    parties = InMemoryParties(3)
    same = np.full(N, 7.0)
    run(parties, lambda a: a / 3 + a * 0.5, same)
    assert_uniform(parties.network.opened("public division"), "public division")
    assert_uniform(parties.network.opened("truncation"), "truncation")


def test_comparison_openings_are_uniform():
    parties = InMemoryParties(3)
    same = np.full(N, -1.25)
    run(parties, lambda a: a < 0.5, same)
    assert_uniform(parties.network.opened("comparison"), "comparison")
    for label in ("comparison tree", "comparison borrow", "bit conversion"):
        assert_uniform(parties.network.opened(label, np.bitwise_xor), label, packed=True)


def test_a_sorting_network_opens_only_masked_values():
    """Kaplan–Meier, log-rank and quantiles sort rows obliviously: the only rounds are masked
    comparisons and products (whose openings are tested above), and what they open looks the
    same whatever the order of the input."""
    from smpc_magic.secret.sorting import sort_rows

    masked = {"beaver multiply", "comparison", "comparison tree", "comparison borrow", "bit conversion", "truncation"}
    for values in (np.arange(256, dtype=np.float64), np.arange(256, dtype=np.float64)[::-1]):
        parties = InMemoryParties(3)
        run(parties, lambda a: sort_rows(a, a[:, None] * 2)[1], values)
        labels = {lab for lab, _ in parties.network.sent.values()}
        assert labels - {"share", "reveal"} <= masked, labels - masked
        reveals = {step for (step, _), (lab, _) in parties.network.sent.items() if lab == "reveal"}
        assert len(reveals) == 1  # the test's own release of the sorted column, nothing during the sort
        assert_uniform(parties.network.opened("comparison"), "comparison in a sort")
