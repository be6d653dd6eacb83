"""webhooks periodic and background tasks."""
