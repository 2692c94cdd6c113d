"""Load tests and cost counts (make bench, bench-instructions, bench-resilience); their tests: make test-bench."""
