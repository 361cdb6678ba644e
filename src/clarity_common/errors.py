"""The backend's error tree.

::

    ClarityError
    ├── ConfigError                  settings that cannot work (the process refuses to start)
    ├── InjectedFaultError           CLARITY_FAULT=crash-on-start asked the process to fail
    ├── PayloadTooLargeError         a body or batch over the documented limits (413)
    ├── UnsupportedMediaTypeError    a body that is not declared application/json (415)
    ├── InvalidJsonError             a body that is not strict, bounded JSON (422)
    ├── BackendUnavailableError      Firestore, Pub/Sub or the ML service did not answer (503)
    │   ├── BatchInProgressError     another request is publishing the same batch now (503)
    │   └── IdTokenError             no ID token for the ML service (api_gateway.ml_client)
    ├── BatchConflictError           a batch id reused with different content (409)
    ├── InvalidMessageError          a Pub/Sub push message that cannot be decoded (400)
    └── BatchNotFoundError           a processing request names a batch never stored (404)

Google and httpx errors are mapped into this tree where they enter (``raise ... from exc``),
so handlers never see a library exception and no response carries a traceback.
"""

from __future__ import annotations

__all__ = [
    "BackendUnavailableError",
    "BatchConflictError",
    "BatchInProgressError",
    "BatchNotFoundError",
    "ClarityError",
    "ConfigError",
    "InjectedFaultError",
    "InvalidJsonError",
    "InvalidMessageError",
    "PayloadTooLargeError",
    "UnsupportedMediaTypeError",
]


class ClarityError(Exception):
    """Root of every error the backend raises on purpose."""


class ConfigError(ClarityError):
    """The settings cannot work; the message says which variable to fix."""


class InjectedFaultError(ClarityError):
    """The process was told to fail through ``CLARITY_FAULT``."""


class PayloadTooLargeError(ClarityError):
    """The request is over a documented size limit."""


class UnsupportedMediaTypeError(ClarityError):
    """The request carries a body that is not declared ``application/json``."""


class InvalidJsonError(ClarityError):
    """The body is not JSON, or JSON outside the parser's limits (depth, digits, NaN)."""

    def __init__(self, message: str, *, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class BackendUnavailableError(ClarityError):
    """A dependency did not answer; retrying the same request is safe."""


class BatchInProgressError(BackendUnavailableError):
    """Another request holds the publish lease of this batch."""

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class BatchConflictError(ClarityError):
    """The batch id was already used for a batch with different content."""


class InvalidMessageError(ClarityError):
    """A push message whose envelope or payload cannot be decoded."""


class BatchNotFoundError(ClarityError):
    """No samples are stored for the batch a message refers to."""
