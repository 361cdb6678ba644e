"""Calling the ML service, with a Cloud Run ID token when the service is private.

On Cloud Run, a service that does not allow unauthenticated calls wants
``Authorization: Bearer <ID token>`` whose audience is its URL. The token comes from the
metadata server (``GCE_METADATA_HOST``, the variable google-auth reads too). With
``ML_SERVICE_AUTH=auto`` (the default) a token is attached to ``https`` URLs only, so local
``http`` set-ups (compose, tests) need nothing.
"""

from __future__ import annotations

import httpx

from api_gateway.settings import GatewaySettings
from clarity_common.errors import BackendUnavailableError

__all__ = ["IdTokenError", "ml_service_headers", "needs_id_token"]


class IdTokenError(BackendUnavailableError):
    """The metadata server gave no ID token for the ML service."""


def needs_id_token(settings: GatewaySettings) -> bool:
    """Whether calls to the ML service carry an ID token (see the module docstring)."""
    if settings.ml_service_auth == "auto":
        return settings.ml_service_url is not None and settings.ml_service_url.scheme == "https"
    return settings.ml_service_auth == "id-token"


async def ml_service_headers(
    client: httpx.AsyncClient, settings: GatewaySettings
) -> dict[str, str]:
    """Headers for a call to the ML service (an ``Authorization`` header when one is needed)."""
    if not needs_id_token(settings) or settings.ml_service_url is None:
        return {}
    audience = str(settings.ml_service_url).rstrip("/")
    url = f"http://{settings.gce_metadata_host}/computeMetadata/v1/instance/service-accounts/default/identity"
    try:
        answer = await client.get(
            url, params={"audience": audience}, headers={"Metadata-Flavor": "Google"}
        )
    except httpx.HTTPError as exc:
        msg = f"no ID token for {audience}: the metadata server at {settings.gce_metadata_host} did not answer ({type(exc).__name__})"
        raise IdTokenError(msg) from exc
    if answer.status_code != 200 or not answer.text:
        msg = f"no ID token for {audience}: the metadata server answered {answer.status_code}"
        raise IdTokenError(msg)
    return {"Authorization": f"Bearer {answer.text.strip()}"}
