"""Settings split by environment: base, dev (the demo), test and production."""
