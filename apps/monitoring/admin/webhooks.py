"""webhooks admin."""
