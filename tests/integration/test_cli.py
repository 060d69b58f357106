"""The smpc command line, run as a user would (separate processes)."""

import json
import subprocess
import sys

import pytest

from kernel_bridge.keys import load_keypair
from kernel_bridge.session import load_session

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def smpc(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "smpc_magic.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=150
    )


def test_keygen_and_session_new(tmp_path):
    out = smpc("keygen", "hospital_a", "--out", str(tmp_path / "a.key"))
    assert out.returncode == 0 and "public key of hospital_a" in out.stdout
    assert load_keypair(tmp_path / "a.key").public in out.stdout
    out = smpc("session", "new", "--parties", "a,b,c", "--dir", str(tmp_path / "study"))
    assert out.returncode == 0, out.stderr
    config = load_session(tmp_path / "study" / "session.toml")
    assert config.names == ["a", "b", "c"] and config.dealer is not None


def test_errors_are_one_clear_line(tmp_path):
    out = smpc("dealer", str(tmp_path / "missing.toml"))
    assert out.returncode == 2 and "does not exist" in out.stderr and "Traceback" not in out.stderr


def test_bench_quick_prints_the_table_and_writes_json(tmp_path):
    out = smpc("bench", "--quick", "--json", str(tmp_path / "bench.json"))
    assert out.returncode == 0, out.stderr
    assert "operation" in out.stdout and "x numpy" in out.stdout
    rows = json.loads((tmp_path / "bench.json").read_text())
    ops = {r["operation"] for r in rows}
    assert {"share", "mul", "dot", "gram", "sum", "mean", "lt", "recip", "sigmoid"} <= ops
    assert all(r["seconds_min"] > 0 and r["parties"] == 3 for r in rows if r["operation"] != "sum")
