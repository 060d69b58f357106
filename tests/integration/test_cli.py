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
    # the printed line survives bash (Z85 keys hold $ & > { # * ...): its words are the name, the
    # address and the exact key; keys are drawn until one holds characters bash would act on
    for attempt in range(20):
        key = load_keypair(tmp_path / "a.key").public
        if set(key) & set("$&>{#*`;|<(") or attempt == 19:
            break
        out = smpc("keygen", "hospital_a", "--out", str(tmp_path / "a.key"))
    assert set(key) & set("$&>{#*`;|<("), key
    line = out.stdout.strip().splitlines()[-1]
    echoed = subprocess.run(
        ["bash", "-c", f"printf '%s\\n' {line}"], capture_output=True, text=True, cwd=tmp_path, timeout=30
    )
    words = echoed.stdout.splitlines()
    assert words == ["--site", "hospital_a", "tcp://HOST:PORT", key], (line, echoed.stderr)
    out = smpc("session", "new", "--parties", "a,b,c", "--dir", str(tmp_path / "study"))
    assert out.returncode == 0, out.stderr
    config = load_session(tmp_path / "study" / "session.toml")
    assert config.names == ["a", "b", "c"] and config.dealer is not None
    # each site's policy file, with the documented defaults, for its custodian to edit
    from smpc_magic.governance.policy import DEFAULT, load_policy

    for name in "abc":
        assert load_policy(tmp_path / "study" / "keys" / f"{name}.policy.toml") == DEFAULT
    assert "policy with the documented defaults" in out.stdout


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


def test_sites_make_their_own_keys_and_only_public_keys_travel(tmp_path):
    """The deployment flow: each site (and the dealer) runs `smpc keygen` in its own folder, the
    coordinator assembles the session from names, addresses and public keys, and the sites
    compute together with their own keys; the session folder never holds a secret key."""
    import shutil

    import numpy as np

    from kernel_bridge.keys import fingerprint
    from kernel_bridge.session import free_port
    from smpc_magic.launch.cluster import child_env

    names = ["hosp_a", "hosp_b", "dealer"]
    homes = {n: tmp_path / n for n in names}
    site_args, publics = [], {}
    for name in names:
        (homes[name] / "keys").mkdir(parents=True)
        out = smpc("keygen", name, "--out", str(homes[name] / "keys" / f"{name}.key"))
        assert out.returncode == 0 and "fingerprint:" in out.stdout
        publics[name] = load_keypair(homes[name] / "keys" / f"{name}.key").public
        site_args += [
            "--dealer" if name == "dealer" else "--site",
            name,
            f"tcp://127.0.0.1:{free_port()}",
            publics[name],
        ]
    # the study's schema declares x's range: a draft from one site's data, agreed by both
    (tmp_path / "x.csv").write_text("x\n3.0\n4.0\n")
    out = smpc("schema", "draft", str(tmp_path / "x.csv"), "--out", str(tmp_path / "study.toml"))
    assert out.returncode == 0, out.stderr
    schema_args = ["--schema", str(tmp_path / "study.toml")]
    out = smpc("session", "new", "--dir", str(tmp_path / "coordinator"), *schema_args, *site_args)
    assert out.returncode == 0, out.stderr
    assert all(fingerprint(key) in out.stdout for key in publics.values())
    assert not (tmp_path / "coordinator" / "keys").exists()
    text = (tmp_path / "coordinator" / "session.toml").read_text()
    assert "secret" not in text
    for name in names:
        for file in ["session.toml", "schema.toml"]:
            shutil.copy(tmp_path / "coordinator" / file, homes[name] / file)
    dealer = subprocess.Popen(
        [sys.executable, "-m", "smpc_magic.cli", "dealer", str(homes["dealer"] / "session.toml")], env=child_env()
    )
    procs = []
    try:
        for value, name in [(3.0, "hosp_a"), (4.0, "hosp_b")]:
            np.savez(homes[name] / "in.npz", x=np.full(5, value))
            job = {
                "mode": "cell", "code": "t = (x * x).sum()", "inputs": str(homes[name] / "in.npz"), "public": None,
                "reveal": ["t"], "to": None, "computation": None, "session": str(homes[name] / "session.toml"),
                "party": name, "out_dir": str(homes[name] / "out"),
            }  # fmt: skip
            (homes[name] / "job.json").write_text(json.dumps(job))
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "smpc_magic.launch.worker", str(homes[name] / "job.json")], env=child_env()
                )
            )
        for proc in procs:
            proc.wait(90)
        for name in ["hosp_a", "hosp_b"]:
            status = json.loads((homes[name] / "out" / "status.json").read_text())
            assert status["ok"], status
            assert float(np.load(homes[name] / "out" / "values.npz")["t"]) == pytest.approx(5 * 9 + 5 * 16, abs=1e-3)
    finally:
        for proc in [*procs, dealer]:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


def test_session_new_without_sites_is_labelled_a_local_demo(tmp_path):
    out = smpc("session", "new", "--parties", "a,b", "--dir", str(tmp_path / "demo"))
    assert out.returncode == 0 and "LOCAL DEMO MODE" in out.stdout


def test_schema_draft_then_check_a_data_file(tmp_path):
    data = tmp_path / "site_a.csv"
    data.write_text("age,sex,cost\n40,female,1234.5\n51,male,98.25\n18,male,15000\n")
    out = smpc("schema", "draft", str(data), "--out", str(tmp_path / "schema.toml"), "--name", "cohort")
    assert out.returncode == 0, out.stderr
    out = smpc("schema", "check", str(tmp_path / "schema.toml"), str(data))
    assert out.returncode == 0 and "conforms" in out.stdout
    data.write_text("age,sex,cost\n40,female,1234.5\n51,other,98.25\n18,male,-5\n")
    out = smpc("schema", "check", str(tmp_path / "schema.toml"), str(data))
    assert out.returncode == 1
    assert "column 'sex'" in out.stdout and "first rows: 1" in out.stdout
    assert "column 'cost'" in out.stdout and "first rows: 2" in out.stdout


def test_session_new_for_the_shamir_protocol_has_no_dealer_and_checks_its_settings(tmp_path):
    out = smpc(
        "session",
        "new",
        "--parties",
        "a,b,c,d",
        "--protocol",
        "shamir",
        "--verify",
        "correct",
        "--dir",
        str(tmp_path / "s"),
    )
    assert out.returncode == 0, out.stderr
    config = load_session(tmp_path / "s" / "session.toml")
    assert config.protocol == "shamir" and config.dealer is None and config.verify == "correct"
    assert not (tmp_path / "s" / "keys" / "dealer.key").exists()
    out = smpc("session", "new", "--parties", "a,b", "--protocol", "shamir", "--dir", str(tmp_path / "two"))
    assert out.returncode != 0 and "at least 3 sites" in out.stderr and "Traceback" not in out.stderr
    out = smpc(
        "session", "new", "--parties", "a,b,c", "--protocol", "shamir", "--threshold", "2", "--dir", str(tmp_path / "t")
    )
    assert out.returncode != 0 and "threshold 2 does not work with 3 sites" in out.stderr


def test_a_public_key_that_begins_with_a_dash_is_a_value_not_an_option(tmp_path):
    """Z85 keys may begin with '-'; argparse would take such a key for an option."""
    from kernel_bridge.keys import generate_keypair

    keys = ["-" + generate_keypair().public[1:] for _ in range(3)]
    out = smpc(
        "session", "new", "--dir", str(tmp_path),
        "--site", "a", "tcp://127.0.0.1:21001", keys[0],
        "--site", "b", "tcp://127.0.0.1:21002", keys[1],
        "--dealer", "dealer", "tcp://127.0.0.1:21003", keys[2],
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    config = load_session(tmp_path / "session.toml")
    assert [p.public_key for p in config.parties] == keys[:2] and config.dealer.public_key == keys[2]


def test_policy_show_without_a_file_prints_the_defaults_the_site_holds(tmp_path):
    out = smpc("session", "new", "--parties", "a,b", "--dir", str(tmp_path / "study"))
    assert out.returncode == 0, out.stderr
    (tmp_path / "study" / "keys" / "a.policy.toml").unlink()  # (the demo wrote one)
    shown = smpc("policy", "show", str(tmp_path / "study" / "session.toml"), "--as", "a")
    assert shown.returncode == 0, shown.stderr
    assert "holds the documented defaults" in shown.stdout and "sets no disclosure rule" not in shown.stdout
    assert "min_count" in shown.stdout and "3" in shown.stdout
