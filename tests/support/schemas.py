"""A small study schema the schema tests share: an integer age and a categorical sex."""

COHORT_SCHEMA = """
[study]
name = "cohort"

[[variable]]
name = "age"
kind = "integer"
min = 18
max = 110

[[variable]]
name = "sex"
kind = "categorical"
levels = ["female", "male"]
"""
