"""alerts periodic and background tasks."""
