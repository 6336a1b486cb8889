"""Persistence: the `Store` seam and its implementations (SQLite now, PostgreSQL later)."""
