"""Where a site's rows come from when they are too many to share row by row."""

from .rows import DEFAULT_BLOCK_ROWS, RowSource, from_spec, rows

__all__ = ["DEFAULT_BLOCK_ROWS", "RowSource", "from_spec", "rows"]
