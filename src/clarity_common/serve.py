"""``python -m api_gateway`` / ``python -m ml_service``: serve on ``HOST``:``PORT``.

Cloud Run tells a container which port to listen on through ``PORT``; this entry point reads
it with the rest of the settings, so a container needs no shell to expand it. It is the
images' command (their distroless base has no shell).
"""

from __future__ import annotations

import uvicorn

from clarity_common.settings import ServiceSettings, settings_from_environment

__all__ = ["serve"]


def serve(app: str, settings_class: type[ServiceSettings], service: str) -> None:
    """Run ``app`` (``"module:attribute"``) under uvicorn with the environment's host and port."""
    settings = settings_from_environment(settings_class, service)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        # Cloud Run's front end is the only peer and sets X-Forwarded-For/-Proto; it has no
        # fixed address, so every peer's forwarding headers are trusted.
        proxy_headers=True,
        forwarded_allow_ips="*",
        server_header=False,
    )
