"""Real ipykernels started by jupyter_client, driven like three notebooks at three sites."""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client.manager import KernelManager

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    status: str
    text: str = ""
    error: str = ""
    ename: str = ""
    outputs: list = field(default_factory=list)
    traceback: list = field(default_factory=list)  # the error's lines as the notebook shows them

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class Site:
    """One kernel and its client."""

    def __init__(self, name: str, cwd: Path):
        self.name = name
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        # IPC sockets under a fresh short folder: kernels started together cannot race for TCP ports
        prefix = tempfile.mkdtemp(prefix="smpc-kernel-") + "/k"
        self.km = KernelManager(kernel_name="python3", transport="ipc", ip=prefix)
        self.socket_dir = Path(prefix).parent
        self.km.start_kernel(env=env, cwd=str(cwd))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def submit(self, code: str) -> str:
        return self.kc.execute(code)

    def _messages(self, msg_id: str, deadline: float, waiting_for: str):
        """The iopub messages of cell ``msg_id`` as they come, until ``deadline`` (monotonic)."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.name}: no {waiting_for} in time")
            try:
                msg = self.kc.get_iopub_msg(timeout=remaining)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                yield msg["msg_type"], msg["content"]

    def collect(self, msg_id: str, timeout: float) -> Result:
        deadline = time.monotonic() + timeout
        text, outputs, error, ename, shown = [], [], "", "", []
        for kind, content in self._messages(msg_id, deadline, "reply"):
            if kind == "stream":
                text.append(content["text"])
            elif kind in ("display_data", "execute_result", "update_display_data"):
                outputs.append(content.get("data", {}))
                text.append(content.get("data", {}).get("text/plain", ""))
            elif kind == "error":
                ename = content["ename"]
                error = f"{content['ename']}: {content['evalue']}"
                shown = list(content.get("traceback", []))
            elif kind == "status" and content["execution_state"] == "idle":
                break
        while True:  # skip replies to earlier cells whose collection was cut short
            reply = self.kc.get_shell_msg(timeout=max(1, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        return Result(reply["content"]["status"], "\n".join(text), error, ename, outputs, shown)

    def wait_for_output(self, msg_id: str, needle: str, timeout: float) -> None:
        """Wait until the cell ``msg_id`` displays text containing ``needle`` (for example the
        progress line a long %%smpc cell shows): a signal that it is under way."""
        for _, content in self._messages(msg_id, time.monotonic() + timeout, f"output with {needle!r}"):
            if needle in str(content.get("data", {}).get("text/plain", "")):
                return

    def run_until(self, code: str, holds, timeout: float = 30) -> Result:
        """Run ``code`` again until ``holds(result)`` (an event the kernel reports, such as a
        peer's announcement arriving with its pings); the last result when the time is up."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.run(code)
            if holds(result) or time.monotonic() > deadline:
                return result

    def run(self, code: str, timeout: float = 60) -> Result:
        return self.collect(self.submit(code), timeout)

    def kill(self) -> None:
        """SIGKILL the kernel process, as a crash would."""
        self.km.signal_kernel(signal.SIGKILL)
        self.close()

    def close(self) -> None:
        try:
            self.kc.stop_channels()
        finally:
            if self.km.has_kernel:
                self.km.shutdown_kernel(now=True)
            shutil.rmtree(self.socket_dir, ignore_errors=True)


def run_all(sites: list[Site], code, timeout: float = 60) -> list[Result]:
    """Submit to every kernel at once (as three analysts pressing Run), then collect."""
    codes = code if isinstance(code, list) else [code] * len(sites)
    ids = [site.submit(c) for site, c in zip(sites, codes)]
    return [site.collect(i, timeout) for site, i in zip(sites, ids)]


@contextlib.contextmanager
def connected_sites(session: Path, directory: Path, names: list[str]):
    """One kernel per site, each with the magics loaded and connected to ``session``; closed after."""
    sites = [Site(name, directory) for name in names]
    try:
        connect = [f"%load_ext smpc_magic\n%smpc connect {session} --as {name}" for name in names]
        results = run_all(sites, connect)
        assert all(r.ok for r in results), [r.error for r in results]
        yield sites
    finally:
        for site in sites:
            site.close()
