"""Loading, help and unloading of the extension in a real kernel (no session needed)."""

import pytest

from tests.e2e.kernels import Site

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def test_load_help_and_unload(tmp_path):
    site = Site("lonely", tmp_path)
    try:
        assert site.run("%load_ext smpc_magic").ok
        help_line = site.run("print(get_ipython().find_line_magic('smpc').__doc__)")
        assert "connect" in help_line.text and "--as" in help_line.text and "preprocess" in help_line.text
        help_cell = site.run("print(get_ipython().find_cell_magic('smpc').__doc__)")
        assert "--reveal" in help_cell.text and "--public" in help_cell.text and "--keep" in help_cell.text
        not_connected = site.run("%smpc status")
        assert not not_connected.ok and not_connected.ename == "SmpcError" and "%smpc connect" in not_connected.error
        cell = site.run("%%smpc --reveal s\ns = 1")
        assert not cell.ok and "not connected" in cell.error
        assert site.run("%unload_ext smpc_magic").ok
        gone = site.run("%smpc status")
        assert not gone.ok and "Line magic function `%smpc` not found" in gone.text
        assert site.run("1 + 1").ok  # the kernel stays usable
    finally:
        site.close()
