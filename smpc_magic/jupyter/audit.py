"""A site's audit log: one JSON line per cell run (what was released, to whom, the cell hash)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kernel_bridge.files import open_private


class AuditLog:
    """Append-only JSON lines beside the session file, readable only by this site's user."""

    def __init__(self, path: Path, party: str, session: str):
        self.path, self.party, self.session = path, party, session

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps({"party": self.party, "session": self.session, **record}) + "\n"
        fd = open_private(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)  # tightened if it was wider
        with os.fdopen(fd, "a") as handle:
            handle.write(line)

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
