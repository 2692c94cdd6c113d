"""verify_audit."""
