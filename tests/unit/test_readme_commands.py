import re
from pathlib import Path

import numpy as np

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


def test_released_values_are_shown_with_the_digits_their_precision_supports():
    from smpc_magic.jupyter.display import ReleasedResults, meaningful_decimals

    assert meaningful_decimals(16) == 3 and meaningful_decimals(24) == 6 and meaningful_decimals(0) == 0
    shown = ReleasedResults(
        {"rate": 250.0019073486328, "n": 15, "means": np.array([1.23456789, 2.5])},
        ["a", "b"],
        "a",
        {"x": ["a", "b"]},
        {"rate": 16, "n": 0, "means": 16},
    )
    text, page = repr(shown), shown._repr_html_()
    assert "rate = 250.002" in text and "250.0019" not in text and "rate = 250.002" in text
    assert "n = 15" in text and "[1.235 2.5  ]" in text
    assert "<code>250.002</code>" in page and "x from a, b" in page
    # a value carried with an error of 3e-4 shows three decimals, one with 0.04 one decimal
    wide = ReleasedResults(
        {"m": 27.3456789, "r": 3.14159}, ["a"], "a", None, {"m": 24, "r": 24}, {"m": 3e-4, "r": 0.04}
    )
    assert "m = 27.346" in repr(wide) and "r = 3.1" in repr(wide) and "3.14" not in repr(wide)


def test_the_stock_reads_as_what_it_buys():
    from smpc_magic.jupyter.display import stock_text
    from smpc_magic.protocols.additive.kinds import stream_key
    from smpc_magic.protocols.registry import get_suite

    suite = get_suite("additive")
    needs = [
        *suite.preprocessing_plan("multiplication", 1000, 16),
        *suite.preprocessing_plan("truncation", 1000, 16),
        *suite.preprocessing_plan("comparison", 40, 16),
    ]
    stock = {stream_key(n.kind, n.params): n.count for n in needs}
    summary = suite.stock_summary(stock, 16)
    assert summary == {"fixed-point multiplications": 1000, "comparisons": 40}
    text = stock_text(summary)
    assert "enough for about 1,000 fixed-point multiplications and 40 comparisons" in text
    assert "fetched from the dealer on demand" in text and "mul:" not in text and "dabit" not in text
    assert "empty" in stock_text(suite.stock_summary({}, 16))
