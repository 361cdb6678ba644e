"""The HTTP contract both services keep, installed on an app in one call."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from pydantic import BaseModel

from clarity_common.guard import RequestGuard
from clarity_common.handlers import install_error_handlers
from clarity_common.openapi import install_openapi

__all__ = ["install_api_contract"]


def install_api_contract(app: FastAPI, *, bodies: Sequence[type[BaseModel]] = ()) -> None:
    """One error shape, the request guard, and the completed OpenAPI document.

    Applies to every route of ``app``, including routes added after this call; ``bodies``
    are the models that routes declare with :func:`clarity_common.openapi.json_request`.
    """
    install_error_handlers(app)
    app.add_middleware(RequestGuard, routes=app.router.routes)
    install_openapi(app, bodies=bodies)
