"""Secure protocols as pure functions of shares, a channel and a material source.

Nothing here imports ZeroMQ or IPython: the same code runs with in-memory channels in unit tests
and over the kernel bridge in real sessions.
"""
