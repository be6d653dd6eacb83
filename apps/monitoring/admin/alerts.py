"""alerts admin."""
