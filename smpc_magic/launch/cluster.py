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
from collections.abc import Mapping
from pathlib import Path

from kernel_bridge.session import DEFAULT_CELL_CPU_SECONDS

from ..engine.dealer import READY_LINE
from ..engine.sessions import new_local_session
from ..errors import SmpcError
from ..schema import dump_schema, load_schema, with_ranges
from .netem import DelayProxy, NetworkSpec
from .netns import NamespaceNetwork, namespaces_available

#: How often to start the dealer on fresh ports when another program took its port.
DEALER_START_ATTEMPTS = 3
#: At least this long for a dealer process to import and bind.
DEALER_START_S = 30.0


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
        schema: str | None = None,
        ranges: Mapping[str, tuple[float, float]] | None = None,
        network: NetworkSpec | None = None,
        threshold: int | None = None,
        verify: str | None = None,
        cell_cpu_seconds: float = DEFAULT_CELL_CPU_SECONDS,
    ):
        self._tmp = None if directory else tempfile.TemporaryDirectory(prefix="smpc-")
        self.directory = Path(directory) if directory else Path(self._tmp.name)  # type: ignore[union-attr]
        self.names = list(party_names)
        if ranges:  # declared ranges join (or make) the session's study schema
            merged = with_ranges(load_schema(schema) if schema else None, dict(ranges))
            self.directory.mkdir(parents=True, exist_ok=True)
            schema = str(self.directory / "declared-ranges.toml")
            Path(schema).write_text(dump_schema(merged))
        self.session_path = new_local_session(
            self.names,
            self.directory,
            protocol=protocol,
            timeout=timeout,
            frac_bits=frac_bits,
            schema=schema,
            threshold=threshold,
            verify=verify,
            cell_cpu_seconds=cell_cpu_seconds,
        )
        self.schema = None if schema is None else str(self.directory / "schema.toml")
        self.timeout, self.frac_bits, self.protocol = timeout, frac_bits, protocol
        self.threshold, self.verify, self.cell_cpu_seconds = threshold, verify, cell_cpu_seconds
        self.dealer: subprocess.Popen | None = None
        self.procs: list[subprocess.Popen] = []
        self.network = network
        self._proxy: DelayProxy | None = None
        self._party_sessions: dict[str, Path] = {}
        #: how emulated links are made: parties in network namespaces where the machine allows
        #: it (root), else on loopback through the proxy alone (SMPC_NETEM=proxy forces that)
        self.isolation = "loopback"
        self._netns: NamespaceNetwork | None = None
        if network is not None and os.environ.get("SMPC_NETEM") != "proxy" and namespaces_available():
            self._netns = NamespaceNetwork([*self.names, "dealer"], network)
            self._move_into_namespaces()
            self.isolation = "network namespaces"

    def _move_into_namespaces(self) -> None:
        """Every party and the dealer listen on their own namespace's address (same ports)."""
        from dataclasses import replace

        from kernel_bridge.session import load_session, write_session

        assert self._netns is not None
        config = load_session(self.session_path)
        moved = replace(
            config,
            parties=tuple(
                replace(p, address=_with_host(p.address, self._netns.address(p.name))) for p in config.parties
            ),
            dealer=replace(config.dealer, address=_with_host(config.dealer.address, self._netns.address("dealer")))
            if config.dealer
            else None,
        )
        write_session(moved, self.session_path)

    def _command(self, member: str, argv: list[str]) -> list[str]:
        return self._netns.command(member, argv) if self._netns is not None else argv

    def key_path(self, name: str) -> Path:
        """Where party ``name``'s key file is (its custodian's policy goes beside it)."""
        from kernel_bridge.session import load_session

        return load_session(self.session_path).default_key_path(name)

    def start_dealer(self) -> None:
        """Start the dealer process (only for a protocol whose session has a dealer) and wait
        until it listens, so that parties never meet a dealer that is not there yet."""
        from kernel_bridge.session import load_session

        if load_session(self.session_path).dealer is None:
            return
        for _ in range(DEALER_START_ATTEMPTS):
            log_path = self.directory / "dealer.log"
            with open(log_path, "wb") as log:
                self.dealer = subprocess.Popen(
                    self._command("dealer", [sys.executable, "-m", "smpc_magic.cli", "dealer", str(self.session_path)]),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=child_env(),
                )
            if self._await_dealer(log_path):
                return
            # Another program took the port between choosing it and binding it: new ports.
            self.session_path = new_local_session(
                self.names,
                self.directory,
                protocol=self.protocol,
                timeout=self.timeout,
                frac_bits=self.frac_bits,
                schema=self.schema,
                threshold=self.threshold,
                verify=self.verify,
                cell_cpu_seconds=self.cell_cpu_seconds,
            )
        raise SmpcError(f"the local dealer could not listen on any port tried: {_tail(log_path)}")

    def _await_dealer(self, log_path: Path) -> bool:
        """True once the dealer listens; False if its port was taken; raises if it failed otherwise."""
        assert self.dealer is not None
        deadline = time.monotonic() + max(DEALER_START_S, self.timeout)
        while time.monotonic() < deadline:
            text = log_path.read_text(errors="replace")
            if READY_LINE in text:
                return True
            if self.dealer.poll() is not None:
                text = log_path.read_text(errors="replace")
                if "cannot listen" in text:
                    return False
                raise SmpcError(f"the local dealer stopped at start-up: {_tail(log_path)}")
            time.sleep(0.02)
        raise SmpcError(f"the local dealer did not start within {max(DEALER_START_S, self.timeout):.0f} s")

    def dealer_failure(self) -> str | None:
        """Why the dealer stopped, if it stopped on its own; None while it runs."""
        if self.dealer is None or self.dealer.poll() is None:
            return None
        return f"the local dealer stopped (exit code {self.dealer.returncode}): {_tail(self.directory / 'dealer.log')}"

    def start_party(self, name: str, job: dict) -> subprocess.Popen:
        job_dir = self.directory / "jobs" / name
        job_dir.mkdir(parents=True, exist_ok=True)
        session = self._session_of(name) if self.network else self.session_path
        job = {"session": str(session), "party": name, "out_dir": str(job_dir / "out"), **job}
        job_path = job_dir / "job.json"
        job_path.write_text(json.dumps(job))
        log = open(job_dir / "party.log", "wb")
        proc = subprocess.Popen(
            self._command(name, [sys.executable, "-m", "smpc_magic.launch.worker", str(job_path)]),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_env(),
        )
        log.close()
        self.procs.append(proc)
        return proc

    def _session_of(self, name: str) -> Path:
        """Party ``name``'s copy of the session file, where every other party's address is a
        proxy port emulating the wide-area link to it (its own address stays the real one)."""
        if not self._party_sessions:
            from dataclasses import replace

            from kernel_bridge.session import load_session, write_session

            assert self.network is not None
            config = load_session(self.session_path)
            netns = self._netns
            if netns is None:
                self._proxy = DelayProxy(self.network)
            else:  # the delay only: each site's link limits the rate in the kernel
                self._proxy = DelayProxy(NetworkSpec(self.network.rtt, 0.0))
            for me in config.parties:
                # a party reaches each peer through a proxy port on its side of its own link
                via = netns.gateway(me.name) if netns is not None else self._proxy.host
                proxied = {}
                for peer in config.parties:
                    host, port = peer.address.removeprefix("tcp://").rsplit(":", 1)
                    proxied[peer.name] = f"tcp://{via}:{self._proxy.forward(host, int(port), via)}"
                parties = tuple(p if p.name == me.name else replace(p, address=proxied[p.name]) for p in config.parties)
                path = self.session_path.with_name(f"session-{me.name}.toml")
                write_session(replace(config, parties=parties), path)
                self._party_sessions[me.name] = path
        return self._party_sessions[name]

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
        if self._proxy is not None:
            self._proxy.close()
            self._proxy = None
        if self._netns is not None:
            self._netns.close()
            self._netns = None
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _with_host(address: str, host: str) -> str:
    """``tcp://OLD:PORT`` with another host."""
    port = address.removeprefix("tcp://").rsplit(":", 1)[1]
    return f"tcp://{host}:{port}"


def _tail(path: Path, lines: int = 5) -> str:
    """The last lines of a log, for an error message."""
    text = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    return " | ".join(text[-lines:]) or "(no output)"


def child_env(extra: dict | None = None) -> dict:
    """The environment of a child process: this one's, with this checkout importable first."""
    env = {**os.environ, **(extra or {})}
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env
