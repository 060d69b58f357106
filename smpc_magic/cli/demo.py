"""``smpc demo``: a temporary local session, the dealer, and three real Jupyter kernels running
the three quick-start site notebooks together. Prints the released results and the executed
notebooks' paths; stops every process it started."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from ..launch.cluster import LocalCluster
from ..launch.notebooks import quickstart_dir, released_text, run_site_notebooks

SITES = ("alice", "bob", "carol")


def main(keep_dir: str | None = None) -> int:
    work = Path(keep_dir or tempfile.mkdtemp(prefix="smpc-demo-"))
    print(
        f"smpc demo: three sites (alice, bob, carol), each a real Jupyter kernel; a dealer process; CurveZMQ on loopback.\n  working folder: {work}"
    )
    started = time.perf_counter()
    schema = str(quickstart_dir() / "study.toml")
    with LocalCluster(list(SITES), timeout=60, directory=str(work / "study"), schema=schema) as cluster:
        cluster.start_dealer()
        notebooks = {site: quickstart_dir() / f"{site}.ipynb" for site in SITES}
        results = run_site_notebooks(notebooks, cluster.session_path, work / "executed", timeout=120)
    failed = [site for site, (code, _) in results.items() if code != 0]
    print(f"  ran the three notebooks together in {time.perf_counter() - started:.1f} s\n")
    for site, (code, path) in results.items():
        print(f"== {site}: {'ok' if code == 0 else 'FAILED'} — {path}")
        if path.exists():
            for text in released_text(path):
                print("   " + text.replace("\n", "\n   "))
        if code != 0:
            log = (path.parent / f"{site}.log").read_text()[-1500:]
            print("   " + log.replace("\n", "\n   "))
    if failed:
        print(f"\nsmpc demo: {', '.join(failed)} failed; see the logs above.")
        return 1
    print("\nEvery site learned total_salary, mean_age, XtX and Xty, and nothing else.")
    return 0
