"""Entry point of one local party process (``python -m smpc_magic.launch.worker JOB.json``).

Used by :func:`smpc_magic.simulate` and ``smpc bench``. The job file and the input ``.npz`` are
written by the parent process on this machine; results go back the same way (numbers only,
``allow_pickle=False``), so nothing is ever unpickled.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np


def _load_npz(path: str | None) -> dict[str, np.ndarray]:
    if not path:
        return {}
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _write_result(out_dir: Path, status: dict, arrays: dict[str, np.ndarray] | None = None) -> None:
    if arrays:
        np.savez(out_dir / "values.npz", **arrays)  # type: ignore[arg-type]
    tmp = out_dir / "status.json.tmp"
    tmp.write_text(json.dumps(status))
    tmp.replace(out_dir / "status.json")


def _progress_writer(path: str | None, every: int = 50):
    """An ``on_round`` hook that writes the round number to ``path`` every ``every`` rounds: the
    signal a supervising process (or a test) waits on to know the computation is under way."""
    if not path:
        return None
    target = Path(path)

    def write(step: int, label: str) -> None:
        if step % every == 0:
            tmp = target.with_name(target.name + ".tmp")
            tmp.write_text(f"{step} {label}")
            tmp.replace(target)

    return write


def main(job_path: str) -> int:
    job = json.loads(Path(job_path).read_text())
    out_dir = Path(job["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    party = None
    try:
        from ..engine.logs import log_to_folder_from_env
        from ..engine.party import Party

        log_to_folder_from_env(job["party"])
        party = Party(job["session"], job["party"], store_dir=job.get("store_dir"), record_path=job.get("record_path"))
        from .faults import from_job

        party.outgoing_filter = from_job(job.get("faults"))
        party.connect(timeout=job.get("connect_timeout"))
        if job["mode"] == "cell":
            from ..sources.rows import from_spec

            private: dict[str, object] = {**_load_npz(job.get("inputs"))}
            private.update({name: from_spec(spec) for name, spec in job.get("rows", {}).items()})
            outcome = party.run(
                job["code"],
                private,
                public=_load_npz(job.get("public")),
                reveal_names=job["reveal"],
                to=job.get("to"),
                computation=job["computation"],
                on_round=_progress_writer(job.get("progress_path")),
                partial=job.get("partial", ()),
                cpu_seconds=job.get("cell_cpu_seconds"),
            )
            status = {
                "ok": True,
                "party": job["party"],
                "rounds": outcome.rounds,
                "bytes_sent": outcome.bytes_sent,
                "material": outcome.material,
                "cursors_start": outcome.cursors_start,
                "received": outcome.values is not None,
                "notices": outcome.notices,
            }
            _write_result(out_dir, status, outcome.values)
        elif job["mode"] == "bench":
            from .bench_party import run_party_bench

            rows = run_party_bench(party, job["plan"])
            _write_result(out_dir, {"ok": True, "party": job["party"], "rows": rows})
        else:
            raise ValueError(f"unknown job mode {job['mode']!r}")
        return 0
    except Exception as exc:
        _write_result(
            out_dir,
            {
                "ok": False,
                "party": job["party"],
                "error_type": type(exc).__name__,
                "message": str(exc),
                "peer": getattr(exc, "party", None),
                "traceback": traceback.format_exc(),
                "time": time.time(),
            },
        )
        return 1
    finally:
        if party is not None:
            party.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
