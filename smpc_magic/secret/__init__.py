"""Secret arrays and what cells compute with them: the core (shares and fixed-point bookkeeping
through the protocol suite), comparisons, non-linear functions, numpy dispatch, pandas-like
frames, and the ``smpc`` namespace of cells (:mod:`.lib`)."""
