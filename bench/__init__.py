"""Load tests and benchmarks (make bench); never part of the test suite."""
