"""Secure protocols as pure functions of shares, a channel and a material source.

Nothing here imports ZeroMQ or IPython: the same code runs with in-memory channels in unit tests
and over the kernel bridge in real sessions. :mod:`.base` is the suite interface, :mod:`.registry`
picks a suite by name, and each protocol lives in its own package (:mod:`.additive`).
"""
