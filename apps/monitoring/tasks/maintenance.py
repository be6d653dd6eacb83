"""maintenance periodic and background tasks."""
