"""The gateway's settings (environment variables, upper-case names)."""

from __future__ import annotations

from typing import Literal

from pydantic import AnyHttpUrl, Field

from clarity_common.settings import ServiceSettings

__all__ = ["GatewaySettings"]


class GatewaySettings(ServiceSettings):
    """Adds where the ML service lives and how long the gateway waits for its dependencies."""

    ml_service_url: AnyHttpUrl | None = None
    ml_service_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    ml_service_auth: Literal["auto", "id-token", "none"] = "auto"
    gce_metadata_host: str = Field(default="metadata.google.internal", min_length=1)
    database_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
