"""A site that deviates in the opening of the disclosure-control pass/fail bit, with real party
processes (README, "Threat model"; SECURITY.md).

A pooled count of 2 fails every site's ``min_count = 3`` rule, so it is withheld at every site.
The deviating site changes only its share in the round that opens the rule's pass/fail bit. That
round is found from the code's own behaviour, not from a copied label: an honest run logs the
rounds each party sends in, and the last one before the withheld release is the bit's opening
(``smpc_magic.launch.faults.last_round``).

- Shamir (``verify = "detect"``, 3 sites): the bit is opened at degree t with a checked opening,
  so the false share is detected and nothing is released at any site.
- Shamir (``verify = "correct"``, 4 sites, t = 1): the false share is corrected, the site named,
  and the count is still withheld at every site.
- Additive: no check (honest-but-curious sites only). The same deviation makes the failing bit
  read "pass" at the honest sites; the deviating site's own opening still reads "fail" (a test
  can change only what a site sends), so its unmodified software stops the cell at the release.
  A site running modified software would carry on; two sites changing only what they send show
  the whole effect: the withheld count is released at every site. This is the documented limit.
"""

import json

import numpy as np
import pytest

from smpc_magic.governance.policy import SitePolicy, policy_path, write_policy
from smpc_magic.launch.cluster import LocalCluster
from smpc_magic.launch.faults import last_round
from tests.integration.test_faults import cell_job, wait_status, write_inputs

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

RANGES = {"x": (0.0, 10.0)}
CELL = "old = (x > 7.5).sum()"  # two patients pooled: below every site's min_count of 3
DATA = [np.arange(5.0), np.arange(5.0, 10.0), np.array([1.0, 2.0]), np.array([3.0, 4.0])]


def run(names, protocol, faults=None, liar=None, **options):
    """Every site's status and what it received; ``faults`` is the liar's fault entry (or, as a
    dict of site to entry, several sites' entries)."""
    if faults and liar is not None:
        faults = {liar: faults}
    with LocalCluster(names, timeout=20, protocol=protocol, ranges=RANGES, **options) as cluster:
        cluster.start_dealer()  # a no-op under Shamir
        for name in names:
            write_policy(policy_path(cluster.key_path(name)), SitePolicy(), name)  # the defaults
        for i, name in enumerate(names):
            extra = {"faults": faults[name]} if faults and name in faults else {}
            cluster.start_party(name, cell_job(CELL, write_inputs(cluster, name, x=DATA[i]), ["old"], **extra))
        statuses = wait_status(cluster, names, 120)
        received = {}
        for name in names:
            path = cluster.result(name)[1] / "values.npz"
            if path.exists():
                with np.load(path, allow_pickle=False) as data:
                    received[name] = {k: data[k] for k in data.files}
        return statuses, received


def disclosure_round(names, protocol, liar, tmp_path, **options):
    """Run honestly with the liar logging its rounds: the release is withheld everywhere, and the
    last round the liar sent in opened the pass/fail bit. Its label and occurrence."""
    log = tmp_path / f"{protocol}-rounds.txt"
    statuses, received = run(names, protocol, {"log": str(log)}, liar, **options)
    assert received == {}
    for status in statuses.values():
        assert not status["ok"] and status["error_type"] == "DisclosureError", status
        assert "min_count" in status["message"]
    return last_round(log)


def test_shamir_detects_a_false_share_of_the_disclosure_bit_and_releases_nothing(tmp_path):
    names = ["a", "b", "c"]
    label, occurrence = disclosure_round(names, "shamir", "b", tmp_path)
    statuses, received = run(names, "shamir", {"false_shares": label, "occurrence": occurrence}, "b")
    assert received == {}  # nothing released at any site, the liar's included
    honest = [statuses[name] for name in ("a", "c")]
    assert all(not s["ok"] and s["error_type"] in ("FalseShareError", "PeerAborted") for s in honest), honest
    detected = [s for s in honest if s["error_type"] == "FalseShareError"]
    assert detected  # the first to detect may stop the other before the false share reaches it
    for status in detected:
        assert f"'{label}'" in status["message"] and "nothing was released" in status["message"]
    assert not statuses["b"]["ok"]
    assert " 2 " not in json.dumps(statuses)  # the count itself never appears


def test_shamir_correction_mode_corrects_the_disclosure_bit_and_still_withholds(tmp_path):
    names = ["a", "b", "c", "d"]
    label, occurrence = disclosure_round(names, "shamir", "b", tmp_path, threshold=1, verify="correct")
    statuses, received = run(
        names, "shamir", {"false_shares": label, "occurrence": occurrence}, "b", threshold=1, verify="correct"
    )
    assert received == {}
    for status in statuses.values():  # the corrected bit still says "fail": withheld everywhere
        assert not status["ok"] and status["error_type"] == "DisclosureError", status


def test_additive_protocol_does_not_notice_a_shifted_disclosure_bit_the_documented_limit(tmp_path):
    names = ["a", "b", "c"]
    label, occurrence = disclosure_round(names, "additive", "b", tmp_path)
    # the bit is 1 ("fail") as an integer; b takes 1 from the share it sends: the others open 0, "pass"
    shift = {"shift": label, "by": -1, "occurrence": occurrence}
    statuses, received = run(names, "additive", shift, "b")
    assert received == {}
    assert statuses["b"]["error_type"] == "DisclosureError"  # its own opening used its true share
    for name in ("a", "c"):  # their check passed: they went on to the release, stopped only by b
        assert statuses[name]["error_type"] != "DisclosureError", statuses[name]
        assert "'b'" in statuses[name]["message"]
    # b and c deviate together, changing only what they send: every site, b and c included, opens
    # "pass" (a: 1 - 1 from b; b: 1 - 1 from c; c: 1 - 1 from b) and the count is released everywhere
    faults = {"b": shift, "c": {**shift, "peers": [names.index("b")]}}
    statuses, received = run(names, "additive", faults)
    assert all(status["ok"] for status in statuses.values()), statuses
    for name in names:
        assert received[name]["old"] == 2
