"""alerts API."""

from ninja import Router

router = Router(tags=["alerts"])
