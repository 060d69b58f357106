"""Running parties outside Jupyter: ``simulate``, local clusters of party processes, the worker
entry point, and executing site notebooks together in real kernels."""
