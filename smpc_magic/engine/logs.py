"""Where a site's log goes. Each layer logs to its own named logger (``kernel_bridge``,
``smpc_magic.engine``, ``smpc_magic.governance``, ``smpc_magic.jupyter``) and only events,
steps, party names and public digests: never a value, a share or an error's text (which may
name the site's own data). Python's logging configuration decides what is kept; a process that
``simulate`` or ``smpc demo`` starts writes ``<member>.log`` in ``SMPC_LOG_DIR`` when it is set.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

#: a folder: each party and the dealer started here write ``<name>.log`` into it
LOG_DIR = "SMPC_LOG_DIR"
#: the level of those files (a logging level name; INFO by default)
LOG_LEVEL = "SMPC_LOG_LEVEL"
FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
LOGGERS = ("kernel_bridge", "smpc_magic")


def log_to_folder_from_env(member: str) -> Path | None:
    """If ``SMPC_LOG_DIR`` is set, send this process's log records to ``<dir>/<member>.log``."""
    folder = os.environ.get(LOG_DIR)
    if not folder:
        return None
    level = logging.getLevelName(os.environ.get(LOG_LEVEL, "INFO").upper())
    path = Path(folder) / f"{member}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    for existing in logging.getLogger(LOGGERS[1]).handlers:  # (a kernel that connects again)
        if isinstance(existing, logging.FileHandler) and Path(existing.baseFilename) == path.resolve():
            return path
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(level if isinstance(level, int) else logging.INFO)
    return path
