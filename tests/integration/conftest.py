"""Integration tests: the real broker and real worker processes (fixtures in tests/conftest.py)."""
