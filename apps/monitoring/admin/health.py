"""health admin."""
