"""Run the site notebooks of a session together, each in its own real Jupyter kernel.

Used by ``smpc demo`` and the tests. Each notebook is executed by nbclient in a subprocess (one
kernel each), all at once, as three analysts pressing "Run all"; ``SMPC_SESSION`` tells the
notebooks which session file to join.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .cluster import child_env

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
STUDIES = ("quickstart", "anticoagulant_safety", "breast_cancer", "survival", "governance", "template")


def study_dir(name: str) -> Path:
    """A study's notebooks: beside the package in a checkout, else where pip installed them."""
    if name not in STUDIES:
        raise ValueError(f"no study {name!r}; the studies are {', '.join(STUDIES)}")
    installed = Path(sys.prefix) / "share" / "smpc-magic" / name
    return NOTEBOOKS / name if (NOTEBOOKS / name).exists() else installed


def quickstart_dir() -> Path:
    """The quick-start notebooks."""
    return study_dir("quickstart")


def study_notebooks(name: str) -> tuple[dict[str, Path], dict[str, dict[str, str]]]:
    """({site: notebook}, {site: extra environment}) for running a study's sites together; the
    template runs as three sites from one notebook."""
    folder = study_dir(name)
    if name == "template":
        sites = ("site_a", "site_b", "site_c")
        return {s: folder / "site.ipynb" for s in sites}, {s: {"SMPC_SITE": s} for s in sites}
    notebooks = {p.stem: p for p in sorted(folder.glob("*.ipynb"))}
    return notebooks, {s: {} for s in notebooks}


def execute_one(source: str, target: str, timeout: float) -> int:
    """Execute one notebook (in this process, with its own kernel) and write the result."""
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    nb = nbformat.read(source, as_version=4)
    # IPC (unix socket) transport: kernels started at the same moment by different processes
    # cannot race for the same TCP ports
    socket_prefix = tempfile.mkdtemp(prefix="smpc-kernel-") + "/k"  # short, unique per kernel
    km = KernelManager(kernel_name="python3", transport="ipc", ip=socket_prefix)
    client = NotebookClient(
        nb,
        km=km,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(Path(target).parent)}},
        store_widget_state=True,
    )
    status = 0
    try:
        client.execute()
    except CellExecutionError as exc:
        print(str(exc)[-2000:], file=sys.stderr)
        status = 1
    finally:
        nbformat.write(nb, target)
        shutil.rmtree(Path(socket_prefix).parent, ignore_errors=True)
    return status


def run_site_notebooks(
    notebooks: dict[str, Path],
    session: Path,
    out_dir: Path,
    timeout: float = 120.0,
    env: dict | None = None,
    site_env: dict[str, dict[str, str]] | None = None,
) -> dict[str, tuple[int, Path]]:
    """Execute the notebooks together; returns {site: (exit status, executed notebook path)}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    procs = {}
    for site, source in notebooks.items():
        extra = (site_env or {}).get(site, {})
        env_of_child = child_env({**(env or {}), **extra, "SMPC_SESSION": str(session)})
        target = out_dir / f"{site}.executed.ipynb"
        log = open(out_dir / f"{site}.log", "wb")  # noqa: SIM115 - handed to the child
        cmd = [sys.executable, "-m", "smpc_magic.launch.notebooks", str(source), str(target), str(timeout)]
        procs[site] = (
            subprocess.Popen(cmd, env=env_of_child, stdout=log, stderr=subprocess.STDOUT, cwd=out_dir),
            target,
        )
        log.close()
    deadline = time.monotonic() + timeout * 3 + 60
    results = {}
    for site, (proc, target) in procs.items():
        try:
            code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                code = proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait(timeout=15)
        results[site] = (code, target)
    return results


def released_text(notebook_path: Path) -> list[str]:
    """The plain-text form of every 'released' output of an executed notebook."""
    import nbformat

    nb = nbformat.read(notebook_path, as_version=4)
    out = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            text = output.get("data", {}).get("text/plain", "")
            if "smpc: released" in text:
                out.append(text)
    return out


if __name__ == "__main__":
    sys.exit(execute_one(sys.argv[1], sys.argv[2], float(sys.argv[3])))
