"""Local clusters: a temporary session with a dealer process and one process per party.

Used by :func:`smpc_magic.simulate` and ``smpc bench``; every process started here is stopped
here, whatever happens.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..engine.sessions import new_local_session


class LocalCluster:
    """A session directory plus a running dealer; parties are started per job."""

    def __init__(
        self,
        party_names: list[str],
        *,
        timeout: float = 60.0,
        frac_bits: int = 16,
        directory: str | None = None,
        protocol: str = "additive",
    ):
        self._tmp = None if directory else tempfile.TemporaryDirectory(prefix="smpc-")
        self.directory = Path(directory) if directory else Path(self._tmp.name)  # type: ignore[union-attr]
        self.names = list(party_names)
        self.session_path = new_local_session(
            self.names, self.directory, protocol=protocol, timeout=timeout, frac_bits=frac_bits
        )
        self.timeout = timeout
        self.dealer: subprocess.Popen | None = None
        self.procs: list[subprocess.Popen] = []

    def start_dealer(self) -> None:
        """Start the dealer process (only for a protocol whose session has a dealer)."""
        from kernel_bridge.session import load_session

        if load_session(self.session_path).dealer is None:
            return
        log = open(self.directory / "dealer.log", "wb")
        self.dealer = subprocess.Popen(
            [sys.executable, "-m", "smpc_magic.cli", "dealer", str(self.session_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_env(),
        )
        log.close()

    def start_party(self, name: str, job: dict) -> subprocess.Popen:
        job_dir = self.directory / "jobs" / name
        job_dir.mkdir(parents=True, exist_ok=True)
        job = {"session": str(self.session_path), "party": name, "out_dir": str(job_dir / "out"), **job}
        job_path = job_dir / "job.json"
        job_path.write_text(json.dumps(job))
        log = open(job_dir / "party.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "smpc_magic.launch.worker", str(job_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_env(),
        )
        log.close()
        self.procs.append(proc)
        return proc

    def result(self, name: str) -> tuple[dict | None, Path]:
        out = self.directory / "jobs" / name / "out"
        status = out / "status.json"
        return (json.loads(status.read_text()) if status.exists() else None), out

    def wait(self, procs: list[subprocess.Popen], deadline: float) -> bool:
        """Wait for the processes until ``deadline`` (monotonic); False if any is still running."""
        for proc in procs:
            remaining = deadline - time.monotonic()
            try:
                proc.wait(timeout=max(0.01, remaining))
            except subprocess.TimeoutExpired:
                return False
        return True

    def stop(self) -> None:
        for proc in [*self.procs, *([self.dealer] if self.dealer else [])]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [*self.procs, *([self.dealer] if self.dealer else [])]:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.procs.clear()
        self.dealer = None

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def child_env(extra: dict | None = None) -> dict:
    """The environment of a child process: this one's, with this checkout importable first."""
    env = {**os.environ, **(extra or {})}
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env
