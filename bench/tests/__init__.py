"""Tests of the bench itself (make test-bench), outside the core suite that make test runs."""
