"""The monitoring API router: one router for the app, assembled from one module per
concern (each defines `router`)."""

from ninja import Router

from apps.monitoring.api.alerts import router as alerts_router
from apps.monitoring.api.health import router as health_router
from apps.monitoring.api.webhooks import router as webhooks_router

router = Router()
router.add_router("/", alerts_router)
router.add_router("/", health_router)
router.add_router("/", webhooks_router)
