"""Honest-majority Shamir sharing (work in progress, not yet a suite the registry offers): the
prime field and the polynomial layer (sharing, reconstruction, openings that detect or correct
false shares)."""
