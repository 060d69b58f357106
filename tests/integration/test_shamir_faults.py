"""The Shamir protocol with real party processes and no dealer: a site that sends a false share
while the result is opened. With three sites (t = 1) it is detected and nothing is released at
any site; with four or five in correction mode the right value is released and the site is
named, in every site's status (what the magic shows as a warning and the audit log records).
"""

import json

import numpy as np
import pytest

from kernel_bridge.session import load_session
from smpc_magic import simulate
from smpc_magic.errors import SmpcError, SmpcWarning
from smpc_magic.governance.policy import OPEN, policy_path, write_policy
from smpc_magic.launch.cluster import LocalCluster
from tests.integration.test_faults import cell_job, wait_status, write_inputs

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

RANGES = {"x": (-100.0, 100.0)}
CELL = "s = (x * x).sum()\nbig = smpc.max(x)"
MARKER = 77.125  # an input value whose digits must never appear in an error


def run(names, liar, threshold=None, verify=None, label="reveal"):
    with LocalCluster(
        names, timeout=20, protocol="shamir", ranges=RANGES, threshold=threshold, verify=verify
    ) as cluster:
        assert load_session(cluster.session_path).dealer is None
        cluster.start_dealer()  # a no-op: the session has no dealer
        assert cluster.dealer is None
        for name in names:  # a protocol test: these custodians allow one patient's value (the maximum)
            write_policy(policy_path(cluster.key_path(name)), OPEN, name)
        values = {}
        for i, name in enumerate(names):
            x = np.linspace(-50, 50, 31) + i
            x[0] = MARKER
            values[name] = x
            extra = {"faults": {"false_shares": label}} if name == liar else {}
            cluster.start_party(name, cell_job(CELL, write_inputs(cluster, name, x=x), ["s", "big"], **extra))
        statuses = wait_status(cluster, names, 90)
        outputs = {n: cluster.result(n)[1] for n in names}
        received = {}
        for name in names:
            path = outputs[name] / "values.npz"
            if path.exists():
                with np.load(path, allow_pickle=False) as data:
                    received[name] = {k: data[k] for k in data.files}
        pooled = np.concatenate(list(values.values()))
        return statuses, received, pooled


def fixed(values):
    return np.rint(values * 2**16) / 2**16


def test_three_sites_detect_a_false_share_and_release_nothing_anywhere():
    statuses, received, _ = run(["a", "b", "c"], liar="b")
    assert received == {}
    # an honest site detects the false share; the other detects it too, or is stopped first by
    # the one that did (its abort can arrive before the false share does)
    honest = [statuses[name] for name in ("a", "c")]
    assert all(not s["ok"] and s["error_type"] in ("FalseShareError", "PeerAborted") for s in honest)
    detected = [s for s in honest if s["error_type"] == "FalseShareError"]
    assert detected
    for status in detected:
        assert "'reveal'" in status["message"] and "nothing was released" in status["message"]
        assert "cannot be told which" in status["message"]  # three sites: not attributable
    assert not statuses["b"]["ok"]  # the site that lied stopped too: the others told it
    assert "77.1" not in json.dumps(statuses)


def test_four_sites_in_detection_mode_name_the_site():
    statuses, received, _ = run(["a", "b", "c", "d"], liar="c")
    assert received == {}
    honest = [statuses[name] for name in ("a", "b", "d")]
    assert all(not s["ok"] and s["error_type"] in ("FalseShareError", "PeerAborted") for s in honest)
    detected = [s for s in honest if s["error_type"] == "FalseShareError"]
    assert detected  # the first to detect may stop the others before the false share reaches them
    for status in detected:
        assert "party 'c' sent shares that do not fit" in status["message"]


@pytest.mark.parametrize("names", [["a", "b", "c", "d"], ["a", "b", "c", "d", "e"]])
def test_correction_mode_releases_the_right_value_and_names_the_site(names):
    statuses, received, pooled = run(names, liar="b", threshold=1, verify="correct")
    assert all(status["ok"] for status in statuses.values()), statuses
    for name in names:
        assert abs(received[name]["s"] - np.sum(fixed(pooled) ** 2)) < 1e-2
        assert received[name]["big"] == pytest.approx(pooled.max(), abs=1e-4)
    for name in names:
        if name != "b":
            assert any("party 'b' sent false shares" in note for note in statuses[name]["notices"])


def test_simulate_runs_shamir_sessions_without_warnings_and_refuses_two_sites(recwarn):
    out = simulate(
        "s = x.sum()", {"a": {"x": [1.0, 2.0]}, "b": {"x": [3.0]}, "c": {}}, "s", protocol="shamir", ranges=RANGES
    )
    assert out["s"] == pytest.approx(6.0)
    assert not [w for w in recwarn if issubclass(w.category, SmpcWarning)]  # nothing was corrected
    with pytest.raises(SmpcError, match="at least 3 sites.*additive"):
        simulate("s = x.sum()", {"a": {"x": [1.0]}, "b": {"x": [2.0]}}, "s", protocol="shamir", ranges=RANGES)
