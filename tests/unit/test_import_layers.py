"""Import-time layering: the lower layers load no ZeroMQ, sandbox, IPython or Jupyter at runtime.

``lint-imports`` checks the import statements; this checks what a fresh interpreter really loads,
which also catches a package ``__init__`` that pulls a heavy layer in (the package root used to
import ``launch.simulate``, so importing the protocols loaded ZeroMQ and RestrictedPython).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.timeout(120)]

HEAVY = ("zmq", "RestrictedPython", "IPython", "ipykernel", "ipywidgets", "jupyter_client", "cloudpickle")

_PROBE = """
import importlib, json, pkgutil, sys
names = sys.argv[1:]
for name in names:  # "pkg.*": the package and every module below it
    module = importlib.import_module(name.removesuffix(".*"))
    if name.endswith(".*"):
        for info in pkgutil.walk_packages(module.__path__, module.__name__ + "."):
            importlib.import_module(info.name)
print(json.dumps(sorted(m.split(".")[0] for m in sys.modules)))
"""


def _loaded(*packages: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *packages], capture_output=True, text=True, timeout=100, check=True
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "packages",
    [
        ("smpc_magic",),  # the root alone: simulate, rows, labels load on first use
        ("smpc_magic.protocols.*",),
        ("smpc_magic.secret.*",),
        ("smpc_magic.protocols.*", "smpc_magic.secret.*", "smpc_magic.stats.*", "smpc_magic.schema.*"),
        ("smpc_magic.sources.*",),
        ("kernel_bridge.errors",),
    ],
)
def test_lower_layers_load_no_transport_sandbox_or_jupyter(packages):
    heavy = _loaded(*packages) & set(HEAVY)
    assert not heavy, f"importing {packages} loaded {sorted(heavy)}"


def test_the_probe_sees_a_layer_that_does_load_zeromq():
    """The check can fail: the transport layer loads ZeroMQ."""
    assert "zmq" in _loaded("kernel_bridge.session")


def test_the_root_still_offers_its_public_names():
    import smpc_magic

    assert callable(smpc_magic.simulate) and callable(smpc_magic.rows) and callable(smpc_magic.labels)
    assert smpc_magic.SecretArray.__name__ == "SecretArray"
    assert {"simulate", "rows", "labels", "SecretArray"} <= set(dir(smpc_magic))
    with pytest.raises(AttributeError):
        smpc_magic.no_such_name  # noqa: B018
