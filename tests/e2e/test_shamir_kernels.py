"""End to end with the Shamir protocol: three real ipykernels, no dealer process at all, the same
cells as with the additive protocol; the status says the protocol, threshold and verification."""

import numpy as np
import pytest

from kernel_bridge.session import load_session
from smpc_magic.engine.sessions import new_local_session
from tests.e2e.kernels import connected_sites, run_all

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

NAMES = ["north", "south", "west"]
SCHEMA = """
[study]
name = "shamir"

[[variable]]
name = "x"
kind = "continuous"
min = -50
max = 50
"""


def test_a_shamir_session_runs_cells_without_a_dealer(tmp_path):
    (tmp_path / "study.toml").write_text(SCHEMA)
    session = new_local_session(NAMES, tmp_path, protocol="shamir", timeout=20, schema=tmp_path / "study.toml")
    assert load_session(session).dealer is None
    with connected_sites(session, tmp_path, NAMES) as sites:
        status = sites[0].run("%smpc status")
        assert status.ok, status.error
        assert "protocol: shamir (no dealer): threshold t = 1 of 3 sites" in status.text
        assert "verify = 'detect'" in status.text and "preprocessing stock" not in status.text
        assert "dealer" not in status.text.split("protocol:")[0]  # no dealer row among the peers
        pre = sites[0].run("%smpc preprocess --triples 1000")
        assert pre.ok and "nothing to do" in pre.text
        setup = [f"import numpy as np\nx = np.linspace(-10, 10, 50) + {k}\n%smpc private x" for k in range(3)]
        assert all(r.ok for r in run_all(sites, setup))
        # (the largest value is one patient's: the sites' default policies refuse it, so the
        # comparisons are exercised through a count of the values above 9)
        cell = (
            "%%smpc --reveal total, top, share_positive\ntotal = x.sum()\ntop = (x > 9).sum()\n"
            "share_positive = (x > 0).mean()"
        )
        results = run_all(sites, cell)
        for r in results:
            assert r.ok, r.error
            assert any("text/html" in o and "smpc: released" in o["text/html"] for o in r.outputs)
        values = sites[1].run("print(total, top, share_positive)").text.split()
        assert float(values[0]) == pytest.approx(150.0, abs=1e-3)  # sums of linspace(-10, 10) + k
        pooled = np.concatenate([np.linspace(-10, 10, 50) + k for k in range(3)])
        assert int(float(values[1])) == int((pooled > 9).sum())
        assert 0.5 < float(values[2]) < 0.6
        audit = sites[2].run("%smpc audit")
        assert audit.ok, audit.error


def test_the_demo_runs_with_the_shamir_protocol():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "smpc_magic.cli", "demo", "--protocol", "shamir"],
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "--protocol shamir" in out.stdout and "no dealer" in out.stdout
    assert out.stdout.count("OLS regression (secure, pooled n = 3500)") == 3
