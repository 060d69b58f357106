"""The study schema with real party processes: conforming data (categorical columns become
0/1 level columns) and a violation at one site stopping every site, naming it and the rule,
with nothing of the data in the message."""

import pandas as pd
import pytest

from smpc_magic import simulate
from smpc_magic.errors import EncodingError, SchemaError
from tests.support.schemas import COHORT_SCHEMA

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SCHEMA = COHORT_SCHEMA

CELL = "women = cohort['sex=female'].sum()\nmean_age = cohort['age'].mean()"


@pytest.fixture
def schema(tmp_path):
    path = tmp_path / "schema.toml"
    path.write_text(SCHEMA)
    return str(path)


def frames(b_ages=(60, 70)):
    a = pd.DataFrame({"age": [30, 40, 50], "sex": ["female", "male", "female"]})
    b = pd.DataFrame({"age": list(b_ages), "sex": ["female", "female"]})
    return {"a": {"cohort": a}, "b": {"cohort": b}}


def test_conforming_sites_compute_with_categorical_levels_as_columns(schema):
    out = simulate(CELL, frames(), "women mean_age", schema=schema, timeout=30)
    assert float(out["women"]) == 4
    assert float(out["mean_age"]) == pytest.approx(50.0, abs=1e-3)


def test_a_violation_at_one_site_stops_every_site_naming_it_and_the_rule(schema):
    with pytest.raises(SchemaError) as info:
        simulate(CELL, frames(b_ages=(60, 200)), "women mean_age", schema=schema, timeout=30)
    message = str(info.value)
    assert "'b'" in message and "cohort/age" in message and "outside the declared range [18, 110]" in message
    assert "200" not in message.replace("[18, 110]", "")


def test_text_columns_without_a_schema_are_refused_before_any_process_starts():
    with pytest.raises(EncodingError, match="declare it in a schema"):
        simulate(CELL, frames(), "women", timeout=30)


MISSING_SCHEMA = (
    SCHEMA
    + """
[[variable]]
name = "bmi"
kind = "continuous"
min = 10
max = 80
missing = true
"""
)


def test_levels_come_back_as_labels_and_missing_values_are_left_out_by_their_observed_column(tmp_path):
    from smpc_magic import labels

    path = tmp_path / "schema.toml"
    path.write_text(MISSING_SCHEMA)
    a = pd.DataFrame({"age": [30, 40, 50], "sex": ["female", "male", "female"], "bmi": [20.0, None, 30.0]})
    b = pd.DataFrame({"age": [60, 70], "sex": ["male", "female"], "bmi": [40.0, 26.0]})
    cell = (
        "sex = cohort.level_index('sex')\n"
        "seen = cohort.observed('bmi')\n"
        "mean_bmi = cohort['bmi'].sum() / seen.sum()\n"
        "complete = cohort.complete_cases().sum()"
    )
    out = simulate(
        cell, {"a": {"cohort": a}, "b": {"cohort": b}}, "sex mean_bmi complete", schema=str(path), timeout=30
    )
    assert labels(out["sex"], ["female", "male"]).tolist() == ["female", "male", "female", "male", "female"]
    assert float(out["mean_bmi"]) == pytest.approx(29.0, abs=1e-3)
    assert float(out["complete"]) == 4
