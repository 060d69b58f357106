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


def test_private_clear_takes_its_names_before_or_after_the_option():
    from IPython.core.magic_arguments import parse_argstring

    from smpc_magic.jupyter.magics import SmpcMagics, _names

    for line in ("private --clear labs vitals", "private labs vitals --clear", "private labs --clear vitals"):
        args = parse_argstring(SmpcMagics.smpc_line, line)
        assert args.clear is not None and _names(args.args + args.clear) == ["labs", "vitals"], line
    assert parse_argstring(SmpcMagics.smpc_line, "private labs").clear is None
    assert parse_argstring(SmpcMagics.smpc_line, "private --clear").clear == []  # every name


def test_the_audit_digest_covers_the_cell_and_its_arguments():
    from smpc_magic.jupyter.site import call_digest

    base = dict(reveal=["s"], to=None, public=[], keep=[], partial=[])
    same = call_digest("s = x.sum()", **base)
    assert same == call_digest("s = x.sum()", **base)
    assert same != call_digest("s = x.sum()", **{**base, "reveal": ["s", "t"]})
    assert same != call_digest("s = x.sum()", **{**base, "to": ["site_a"]})
    assert same != call_digest("s = x.sum() ", **base)
