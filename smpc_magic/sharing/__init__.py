"""Ring arithmetic, fixed-point encoding, CSPRNG and additive sharing (the bottom layer)."""
