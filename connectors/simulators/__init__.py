"""Local HR systems that enforce the real contracts, for tests and `make run`."""
