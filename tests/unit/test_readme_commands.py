import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    command = re.search(r"^TEST_COMMAND='(.*)'$", ci, re.M).group(1)
    assert command in (ROOT / "README.md").read_text()


def test_readme_names_the_demo_command():
    readme = (ROOT / "README.md").read_text()
    assert "smpc demo" in readme and "pip install" in readme
