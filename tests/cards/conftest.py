"""Fixtures for the cards tests live in tests/conftest.py (admin_client, staff)."""
