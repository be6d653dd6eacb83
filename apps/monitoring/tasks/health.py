"""health periodic and background tasks."""
