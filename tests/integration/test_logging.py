"""Each layer logs events to its own named logger, never a value (issue 25, the guide's rule).

Real party and dealer processes write their logs where ``SMPC_LOG_DIR`` says; a released cell
and a withheld one must both be told, by step and public names, with no private value, share or
error text in any file.
"""

from __future__ import annotations

import numpy as np
import pytest

from smpc_magic import simulate
from smpc_magic.errors import DisclosureError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

NORTH = np.array([61.37, 72.91, 55.13, 48.29, 66.71, 59.83])
SOUTH = np.array([43.57, 81.19, 52.47, 69.03, 57.61, 94.73])
INPUTS = {"north": {"x": NORTH}, "south": {"x": SOUTH}}
DEFAULTS = {"north": {}, "south": {}}


def _texts_of(value: float) -> list[str]:
    return [f"{value}", f"{value:.1f}", f"{value:.2f}", f"{value:g}"]


def test_party_and_dealer_logs_tell_each_step_by_name_and_never_a_value(tmp_path, monkeypatch):
    monkeypatch.setenv("SMPC_LOG_DIR", str(tmp_path))
    monkeypatch.setenv("SMPC_LOG_LEVEL", "DEBUG")
    got = simulate("m = smpc.stats.mean(x)", INPUTS, "m", ranges={"x": (0, 100)}, policies=DEFAULTS)
    mean = float(got["m"])
    assert mean == pytest.approx(np.concatenate([NORTH, SOUTH]).mean(), abs=1e-3)
    with pytest.raises(DisclosureError):  # a count of one patient: withheld, with the value in no log
        simulate("c = (x > 90).sum()", INPUTS, "c", ranges={"x": (0, 100)}, policies=DEFAULTS)

    logs = {path.stem: path.read_text() for path in tmp_path.glob("*.log")}
    assert {"north", "south", "dealer"} <= set(logs)
    for site in ("north", "south"):
        text = logs[site]
        assert "smpc_magic.engine" in text and "kernel_bridge" in text  # a logger per layer
        assert f"{site}: connected to" in text
        assert "released m to north, south" in text
        assert "stopped at step: check the releases against the sites' policies (DisclosureError)" in text
    assert "dealer: serving session" in logs["dealer"]
    for name, text in logs.items():
        for value in [*NORTH, *SOUTH, mean]:
            for shown in _texts_of(float(value)):
                assert shown not in text, f"{name}.log holds {shown}"
        assert "fewer than" not in text and "min_count" not in text  # no error text either


def test_without_a_log_folder_nothing_is_written_and_nothing_reaches_the_terminal(tmp_path, monkeypatch, capfd):
    """A library is silent unless the application configures logging: the loggers have a
    NullHandler, so Python's last-resort handler never prints a warning into a notebook."""
    import logging

    import smpc_magic  # noqa: F401  (adds the NullHandlers)

    monkeypatch.delenv("SMPC_LOG_DIR", raising=False)
    logging.getLogger("smpc_magic.engine").warning("a step stopped")
    logging.getLogger("kernel_bridge").warning("a peer stopped")
    assert "stopped" not in capfd.readouterr().err
