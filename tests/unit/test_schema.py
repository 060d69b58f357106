"""Study schemas: parsing with clear errors, drafting from a frame, and checking data (each
rule broken once), with reports that hold no value of the data."""

import numpy as np
import pandas as pd
import pytest

from smpc_magic.errors import SchemaError
from smpc_magic.schema import check_data, draft_schema, dump_schema, parse_schema, require_conformance

pytestmark = pytest.mark.timeout(60)

SCHEMA = """
[study]
name = "cohort"
version = 2

[[variable]]
name = "age"
kind = "integer"
unit = "years"
min = 18
max = 110

[[variable]]
name = "bmi"
kind = "continuous"
min = 10
max = 80
missing = true

[[variable]]
name = "smoker"
kind = "binary"

[[variable]]
name = "sex"
kind = "categorical"
levels = ["female", "male"]
"""


def good_frame():
    return pd.DataFrame(
        {"age": [40, 51, 18], "bmi": [22.5, np.nan, 30.1], "smoker": [0, 1, 0], "sex": ["female", "male", "male"]}
    )


def test_a_conforming_frame_has_no_violations_and_the_digest_covers_every_rule():
    schema = parse_schema(SCHEMA)
    assert check_data(schema, good_frame()) == []
    assert schema.variable("age").bound == 110 and schema.variable("smoker").bound == 1
    assert parse_schema(SCHEMA.replace("max = 110", "max = 111")).digest != schema.digest
    assert parse_schema(dump_schema(schema)).digest == schema.digest


@pytest.mark.parametrize(
    "column, bad, rule",
    [
        ("age", [40, 51, 200], "outside the declared range [18, 110]"),
        ("age", [40, 51.5, 18], "a fractional value in an integer variable"),
        ("age", [40, None, 18], "missing values where the schema allows none"),
        ("smoker", [0, 2, 0], "a value other than 0 or 1"),
        ("sex", ["female", "unknown_level", "male"], "a level not among"),
        ("bmi", [22.5, np.inf, 30.1], "an infinite value"),
    ],
)
def test_each_rule_broken_once_is_named_with_its_column_and_row_count(column, bad, rule):
    frame = good_frame()
    frame[column] = bad
    (violation,) = check_data(parse_schema(SCHEMA), frame)
    assert violation.column == column and rule in violation.rule and violation.rows == 1
    assert violation.first_rows in ((1,), (2,))
    assert "200" not in violation.summary and "unknown_level" not in violation.summary  # no value of the data


def test_undeclared_and_absent_columns():
    frame = good_frame().assign(postcode=[1, 2, 3]).drop(columns=["sex"])
    found = {(v.column, v.rule) for v in check_data(parse_schema(SCHEMA), frame, require_all=True)}
    assert ("postcode", "not declared in the schema") in found
    assert ("sex", "declared but absent from the data") in found


def test_require_conformance_says_what_to_do():
    frame = good_frame()
    frame["age"] = [40, 51, 200]
    with pytest.raises(SchemaError, match=r"column 'age'.*1 row.*Nothing was shared"):
        require_conformance(parse_schema(SCHEMA), frame, "private frame 'cohort'")


@pytest.mark.parametrize(
    "edit, message",
    [
        (('kind = "integer"', 'kind = "number"'), "kind must be one of"),
        (("min = 18\n", ""), "needs min and max"),
        (("max = 110", "max = 1"), "is above max"),
        (('levels = ["female", "male"]', 'levels = ["female"]'), "at least two levels"),
        (('unit = "years"', 'units = "years"'), "unknown field"),
        (('name = "bmi"', 'name = "age"'), "declares 'age' twice"),
    ],
)
def test_malformed_schemas_are_refused_clearly(edit, message):
    with pytest.raises(SchemaError, match=message):
        parse_schema(SCHEMA.replace(*edit))


def test_a_draft_from_a_frame_guesses_kinds_levels_and_rounded_ranges():
    frame = good_frame().assign(cost=[1234.5, 98.25, 15000.0])
    schema = draft_schema(frame, name="draft")
    kinds = {v.name: v.kind for v in schema.variables}
    assert kinds == {
        "age": "integer",
        "bmi": "continuous",
        "smoker": "binary",
        "sex": "categorical",
        "cost": "continuous",
    }
    assert schema.variable("sex").levels == ("female", "male")
    assert schema.variable("bmi").missing and not schema.variable("age").missing
    cost = schema.variable("cost")
    assert cost.min == 90 and cost.max == 20000  # rounded outwards, not the site's exact extremes
    assert check_data(parse_schema(dump_schema(schema)), frame) == []


def test_the_rendezvous_refuses_a_site_with_another_schema_version():
    from smpc_magic.engine import rendezvous
    from smpc_magic.errors import InputMismatchError

    mine = {k: [] for k in ("reveal", "to", "public_names", "kept", "keep_names", "partial")}
    mine.update(protocol="additive", cell="c", frac_bits=16, public="p", schema=parse_schema(SCHEMA).digest)
    theirs = dict(mine, schema=parse_schema(SCHEMA.replace("version = 2", "version = 3")).digest)
    rendezvous.check_agreement(["a", "b"], 0, mine, {1: dict(mine)}, {1: "p"})
    with pytest.raises(InputMismatchError, match="'b' uses a different study schema"):
        rendezvous.check_agreement(["a", "b"], 0, mine, {1: theirs}, {1: "p"})


def test_a_different_cell_is_named_at_its_first_differing_line():
    from smpc_magic.engine import rendezvous
    from smpc_magic.errors import InputMismatchError

    code, other = "m = x.sum()\ns = m * 2\nt = s + 1", "m = x.sum()\ns = m * 3\nt = s + 1"
    mine = {k: [] for k in ("reveal", "to", "public_names", "kept", "keep_names", "partial")}
    mine.update(protocol="additive", cell="c", frac_bits=16, public="p", schema="")
    mine["cell_lines"] = rendezvous.line_digests(code)
    theirs = dict(mine, cell="d", cell_lines=rendezvous.line_digests(other))
    with pytest.raises(InputMismatchError, match=r"'b' runs a different cell .*line 2 \(here: `s = m \* 2`"):
        rendezvous.check_agreement(["a", "b"], 0, mine, {1: theirs}, {1: "p"}, code)
    # lines that differ only in spaces or by a comment are named too (the cell's digest differs)
    for changed in ("m = x.sum()\ns = m * 2 \nt = s + 1", "m = x.sum()\ns = m * 2  # doubled\nt = s + 1"):
        theirs = dict(mine, cell="d", cell_lines=rendezvous.line_digests(changed))
        with pytest.raises(InputMismatchError, match=r"line 2 \(here: `s = m \* 2`; spaces and comments count"):
            rendezvous.check_agreement(["a", "b"], 0, mine, {1: theirs}, {1: "p"}, code)


def test_categorical_columns_become_one_zero_one_column_per_level():
    from smpc_magic.engine.schema_inputs import flatten_with_schema

    flat, violations = flatten_with_schema({"cohort": good_frame()}, parse_schema(SCHEMA))
    assert violations == []
    assert flat["cohort/sex=female"].tolist() == [1, 0, 0] and flat["cohort/sex=male"].tolist() == [0, 1, 1]
    assert "cohort/sex" not in flat and flat["cohort/age"].tolist() == [40, 51, 18]


def test_a_variable_that_may_be_missing_brings_an_observed_column_and_a_range_holding_zero():
    from smpc_magic.engine.schema_inputs import declared_ranges, flatten_with_schema

    schema = parse_schema(SCHEMA)
    flat, violations = flatten_with_schema({"cohort": good_frame()}, schema)
    assert violations == []
    assert flat["cohort/bmi"].tolist() == [22.5, 0.0, 30.1]
    assert flat["cohort/bmi:observed"].tolist() == [1, 0, 1]
    assert "cohort/age:observed" not in flat  # age may not be missing
    complete, _ = flatten_with_schema({"cohort": good_frame().fillna(25.0)}, schema)
    assert complete["cohort/bmi:observed"].tolist() == [1, 1, 1]  # same layout at every site
    ranges = declared_ranges(flat, schema)
    assert ranges["cohort/bmi"] == (0.0, 80.0) and ranges["cohort/bmi:observed"] == (0.0, 1.0)
    assert ranges["cohort/age"] == (18, 110)


def test_released_level_indices_and_one_hot_rows_turn_back_into_labels():
    from smpc_magic import labels
    from smpc_magic.errors import SmpcError

    levels = ["apixaban", "warfarin", "none"]
    assert labels([2, 0, 1.0000001], levels).tolist() == ["none", "apixaban", "warfarin"]
    assert labels([[0, 1, 0], [0, 0, 0], [1, 0, 0]], levels).tolist() == ["warfarin", None, "apixaban"]
    with pytest.raises(SmpcError, match="from 0 to 2"):
        labels([3], levels)
    with pytest.raises(SmpcError, match="at most one 1"):
        labels([[1, 1, 0]], levels)


def test_every_site_must_contribute_each_private_name_the_cell_uses_unless_partial():
    from smpc_magic.engine.inputs import check_contributors, contributors
    from smpc_magic.errors import MissingContributionError

    names = ["a", "b", "c"]
    spec = {"shape": [3], "scale": 0, "bound": [0, 1]}
    declared = {0: {"cohort/age": spec, "x": spec}, 1: {"cohort/age": spec}, 2: {"cohort/age": spec, "x": spec}}
    provided = contributors(declared, {"cohort", "x"}, names)
    assert provided == {"cohort": ["a", "b", "c"], "x": ["a", "c"]}
    with pytest.raises(MissingContributionError, match="not provided by site 'b'") as info:
        check_contributors(provided, set(), names)
    assert info.value.name == "x" and info.value.sites == ("b",) and "--partial x" in str(info.value)
    check_contributors(provided, {"x"}, names)  # declared partial: fine
    check_contributors(contributors(declared, {"cohort"}, names), set(), names)  # x unused: fine
