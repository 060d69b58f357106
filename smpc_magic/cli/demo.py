"""``smpc demo [--study NAME]``: a temporary local session, the dealer, and one real Jupyter
kernel per site running a study's site notebooks together. Prints the released results and the
executed notebooks' paths; stops every process it started."""

from __future__ import annotations

import importlib.util
import tempfile
import time
from pathlib import Path

from ..launch.cluster import LocalCluster
from ..launch.notebooks import released_text, run_site_notebooks, study_dir, study_notebooks
from ..protocols.registry import get_suite

#: What each study's notebooks import beyond smpc_magic (pip install 'smpc-magic[studies]').
NEEDS = {
    "anticoagulant_safety": ("pandas",),
    "breast_cancer": ("pandas", "sklearn", "statsmodels"),
    "survival": ("pandas", "lifelines", "matplotlib"),
    "quickstart": (),
    "template": (),
}


def main(keep_dir: str | None = None, study: str = "quickstart", protocol: str = "additive") -> int:
    missing = [m for m in NEEDS.get(study, ()) if importlib.util.find_spec(m) is None]
    if missing:
        print(f"smpc demo --study {study} needs {', '.join(missing)}: pip install 'smpc-magic[studies]'")
        return 2
    notebooks, site_env = study_notebooks(study)
    sites = list(notebooks)
    work = Path(keep_dir or tempfile.mkdtemp(prefix=f"smpc-demo-{study}-"))
    helper = "a dealer process" if get_suite(protocol).needs_dealer else "no dealer"
    print(
        f"smpc demo --study {study} --protocol {protocol}: {len(sites)} sites ({', '.join(sites)}), each a real "
        f"Jupyter kernel; {helper}; CurveZMQ on loopback.\n  working folder: {work}"
    )
    started = time.perf_counter()
    schema = str(study_dir(study) / "study.toml")
    with LocalCluster(sites, timeout=120, directory=str(work / "study"), schema=schema, protocol=protocol) as cluster:
        cluster.start_dealer()
        results = run_site_notebooks(notebooks, cluster.session_path, work / "executed", timeout=300, site_env=site_env)
    failed = [site for site, (code, _) in results.items() if code != 0]
    print(f"  ran the {len(sites)} notebooks together in {time.perf_counter() - started:.1f} s\n")
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
    print("\nEvery site learned the released results above, and nothing else of the other sites' data.")
    return 0
