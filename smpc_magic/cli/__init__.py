"""The ``smpc`` command line: keys, sessions, the dealer, benchmarks and a demo."""

from .commands import build_parser, main

__all__ = ["build_parser", "main"]
