"""A real browser: JupyterLab in headless Chromium runs site alice's notebook while bob and carol
run theirs as kernels; the status panel and the released-results table must render."""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest

from kernel_bridge.session import free_port, new_session
from smpc_magic.launch.notebooks import quickstart_dir, run_site_notebooks
from tests.e2e.kernels import ROOT
from tests.support.processes import dealer_process

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    path = shutil.which("chromium")
    assert path, "Debian's chromium is needed for the browser test (apt-get install chromium; .ci/run does it)"
    return path


def _wait_for_lab(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"JupyterLab did not start: {url}")


def _wait_for_idle_kernel(url: str, deadline: float) -> None:
    """Until the Jupyter server reports a started kernel that is idle (the notebook is ready)."""
    last_error = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                kernels = json.loads(response.read())
        except OSError as exc:  # the server answers 500 while a kernel is still being set up
            last_error = str(exc)
            time.sleep(0.3)
            continue
        if any(k.get("execution_state") == "idle" for k in kernels):
            return
        time.sleep(0.2)
    raise AssertionError(f"the notebook's kernel did not become idle ({last_error or 'no error'})")


def test_jupyterlab_renders_status_panel_and_results(tmp_path):
    with contextlib.ExitStack() as stack:
        _run_browser_test(tmp_path, stack)


def _run_browser_test(tmp_path, stack):
    from playwright.sync_api import sync_playwright

    chromium = _chromium()
    session = new_session(
        ["alice", "bob", "carol"], tmp_path / "study", timeout=120, schema=quickstart_dir() / "study.toml"
    )
    stack.enter_context(dealer_process(session))  # stopped when the test ends
    lab_root = tmp_path / "lab"
    lab_root.mkdir()
    shutil.copy(quickstart_dir() / "alice.ipynb", lab_root / "alice.ipynb")
    port, token = free_port(), "smpc-test-token"
    env = {
        **os.environ,
        "SMPC_SESSION": str(session),
        "PYTHONPATH": str(ROOT),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg"),
    }
    lab = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={lab_root}", "--ServerApp.open_browser=False", "--allow-root"],
        env=env, cwd=lab_root, stdout=open(tmp_path / "lab.log", "wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    others = None
    try:
        _wait_for_lab(f"http://127.0.0.1:{port}/api/status?token={token}", time.monotonic() + 90)
        import threading

        result = {}
        notebooks = {site: quickstart_dir() / f"{site}.ipynb" for site in ("bob", "carol")}
        others = threading.Thread(
            target=lambda: result.update(run_site_notebooks(notebooks, session, tmp_path / "others", timeout=150))
        )
        others.start()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/lab/tree/alice.ipynb?token={token}", timeout=90_000)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle'], .jp-Toolbar", timeout=60_000)
            _wait_for_idle_kernel(f"http://127.0.0.1:{port}/api/kernels?token={token}", time.monotonic() + 60)
            page.click("div.lm-MenuBar-itemLabel:text-is('Run')")
            page.click("li.lm-Menu-item:has-text('Run All Cells')")
            page.wait_for_selector(".smpc-status", timeout=120_000)
            panel = page.text_content(".smpc-status")  # read now: JupyterLab may unmount cells scrolled out of view
            page.wait_for_function("document.querySelectorAll('.smpc-results table').length >= 2", timeout=150_000)
            results = page.text_content(".jp-Notebook")
            # the released fit as an HTML table: its variables as row headers, its columns named
            fit_rows = page.eval_on_selector_all(
                ".smpc-results table tbody tr th", "cells => cells.map(c => c.textContent.trim())"
            )
            fit_head = page.eval_on_selector_all(
                ".smpc-results table thead th", "cells => cells.map(c => c.textContent.trim())"
            )
            page.screenshot(path=str(tmp_path / "alice-jupyterlab.png"), full_page=True)
            browser.close()
        assert "bob" in panel and "carol" in panel and "connected" in panel and "not connected" not in panel
        assert "total_salary" in results and "171750" in results.replace(",", "")
        assert "OLS regression" in results and "mean_age" in results
        assert {"const", "age", "bmi"} <= set(fit_rows), fit_rows
        assert {"coef", "std err", "t", "P>|t|"} <= set(fit_head), fit_head
        assert (tmp_path / "alice-jupyterlab.png").stat().st_size > 10_000
        others.join(200)
        for site, (code, path) in result.items():
            assert code == 0, (site, (path.parent / f"{site}.log").read_text()[-1500:])
    finally:
        try:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/shutdown?token={token}", method="POST", data=b""
            )
            urllib.request.urlopen(request, timeout=10)
        except OSError:
            pass
        try:
            lab.wait(20)
        except subprocess.TimeoutExpired:
            lab.kill()
            lab.wait(10)
        if others is not None:
            others.join(60)
