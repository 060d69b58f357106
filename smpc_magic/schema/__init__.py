"""Study schemas: the harmonised variables every site agreed on, their checks and drafts."""

from .check import Violation, check_data, require_conformance
from .draft import draft_schema
from .model import StudySchema, Variable, dump_schema, load_schema, parse_schema, with_ranges

__all__ = [
    "StudySchema",
    "Variable",
    "Violation",
    "check_data",
    "draft_schema",
    "dump_schema",
    "load_schema",
    "parse_schema",
    "require_conformance",
    "with_ranges",
]
