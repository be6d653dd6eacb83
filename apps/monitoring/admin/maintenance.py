"""maintenance admin."""
