"""webhooks models (see apps/monitoring/models/__init__.py)."""
