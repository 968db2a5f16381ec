"""Pure clinical rules for the SIRT pathway: no I/O, no clock, no randomness."""
