"""Statistics that read a secret time at public points, two in one cell (issue 22, found by a red
team): curves or grid fits at different points differ by the rows between them, a group no rule
checks. With real party processes, under the documented default policy (min_count 3)."""

from __future__ import annotations

import numpy as np
import pytest

from smpc_magic import simulate
from smpc_magic.errors import TimePointsError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

DEFAULTS = {"north": {}, "south": {}}
RANGES = {"time": (0, 61), "event": (0, 1), "x": (0, 100)}
# 24 patients: 18 before week 49 (9 events, 9 censored), one event in week 50 (the patient the
# attacks single out, x = 90), 5 still followed after week 51 (censored)
TIME = np.array([3, 5, 8, 11, 14, 17, 20, 23, 26, 29, 32, 35, 38, 40, 42, 44, 46, 48, 50, 54, 56, 58, 59, 60.0])
EVENT = np.array([1, 0] * 9 + [1, 0, 0, 0, 0, 0])
X = np.array([40.0, 55, 62, 35, 47, 58, 66, 39, 51, 44, 60, 53, 48, 57, 36, 64, 45, 50, 90, 42, 61, 38, 52, 49])
WEEKS_TO = "list(range(1, {}))"


def _inputs() -> dict[str, dict[str, np.ndarray]]:
    order = np.r_[0:24:2, 1:24:2]  # each site holds every other patient
    columns = {"time": TIME[order], "event": EVENT[order], "x": X[order]}
    return {
        "north": {k: v[:12] for k, v in columns.items()},
        "south": {k: v[12:] for k, v in columns.items()},
    }


def _run(code: str, reveal: str) -> dict:
    return simulate(code, _inputs(), reveal, ranges=RANGES, policies=DEFAULTS, timeout=200)


@pytest.mark.parametrize(
    "code, reveal",
    [
        # two curves at weeks 49 and 51: their ratio is the week-50 patient's event
        ("a = smpc.stats.kaplan_meier(time, event, [49])\nb = smpc.stats.kaplan_meier(time, event, [51])", "a, b"),
        # two Cox fits on weekly grids ending at weeks 49 and 51: the second holds that patient's
        # event and covariate, the first does not
        (
            f"a = smpc.stats.coxph([x], time, event, grid={WEEKS_TO.format(50)}, ties='breslow')\n"
            f"b = smpc.stats.coxph([x], time, event, grid={WEEKS_TO.format(52)}, ties='breslow')",
            "a, b",
        ),
        # a grid fit beside the exact one
        (
            f"a = smpc.stats.coxph([x], time, event, grid={WEEKS_TO.format(50)}, ties='breslow')\n"
            "b = smpc.stats.coxph([x], time, event, ties='breslow')",
            "a, b",
        ),
        # the same points on shifted times: time - 2 at week 49 is time at week 51
        ("a = smpc.stats.kaplan_meier(time, event, [49])\nb = smpc.stats.kaplan_meier(time - 2, event, [49])", "a, b"),
        # the same points and times, the events multiplied by a selection on time (a red team read
        # the week-50 patient's event from the two curves' ratio, and with a third curve on
        # event * late * (x < 60), whether that patient's x was below 60)
        (
            "a = smpc.stats.kaplan_meier(time, event, [51])\nb = smpc.stats.kaplan_meier(time, event * (time < 49), [51])",
            "a, b",
        ),
        # the same for Cox fits on one grid (with a mean of x over the late rows: the covariate)
        (
            f"a = smpc.stats.coxph([x], time, event, grid={WEEKS_TO.format(52)}, ties='breslow')\n"
            f"b = smpc.stats.coxph([x], time, event * (time < 49), grid={WEEKS_TO.format(52)}, ties='breslow')",
            "a, b",
        ),
        # the second curve on a public slice of the rows: they overlap
        (
            "a = smpc.stats.kaplan_meier(time, event, [49])\nb = smpc.stats.kaplan_meier(time[1:], event[1:], [51])",
            "a, b",
        ),
    ],
)
def test_two_statistics_of_a_kind_at_different_time_points_are_refused_before_anything_is_sent(code, reveal):
    with pytest.raises(TimePointsError, match="the same rows' times") as caught:
        _run(code, reveal)
    message = str(caught.value)
    assert "nothing was released" in message and "own cell" in message


def test_each_of_those_statistics_alone_is_released():
    """The refusal above is the pair's, not a rule each statistic breaks: either curve alone
    passes every rule (and the week-50 patient's event is in the second one)."""
    a = _run("a = smpc.stats.kaplan_meier(time, event, [49])", "a")["a"]
    b = _run("b = smpc.stats.kaplan_meier(time, event, [51])", "b")["b"]
    assert float(np.asarray(b.survival)[0]) < float(np.asarray(a.survival)[0]) - 0.05


def test_a_curve_beside_a_cox_fit_on_a_finer_grid_is_released():
    """Different kinds of statistic may read a time at different points (the Box 1 notebook's cell
    has curves at whole years beside a Cox fit on quarter years; its e2e test runs them by group)."""
    code = (
        "cox = smpc.stats.coxph([x], time, event, grid=list(range(4, 49, 4)), ties='breslow')\n"
        "km = smpc.stats.kaplan_meier(time, event, [20, 40])"
    )
    got = _run(code, "cox, km")
    assert np.isfinite(np.asarray(got["cox"].coef)).all()
    assert np.asarray(got["km"].survival) == pytest.approx([0.82075, 0.65495], abs=1e-3)  # (lifelines)
