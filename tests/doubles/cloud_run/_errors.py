"""Google API errors as the Cloud Run Admin API renders them (``google.rpc.Status`` JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["GRPC_CODES", "HTTP_STATUS_NAMES", "ApiError"]

# gRPC code numbers, used inside long-running operation errors (``google.rpc.Status.code``).
GRPC_CODES: dict[str, int] = {
    "OK": 0,
    "CANCELLED": 1,
    "UNKNOWN": 2,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "OUT_OF_RANGE": 11,
    "UNIMPLEMENTED": 12,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "DATA_LOSS": 15,
    "UNAUTHENTICATED": 16,
}

# The canonical status name Google APIs put in the JSON error for an HTTP status.
HTTP_STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


@dataclass
class ApiError(Exception):
    """An error answer: HTTP status, canonical status name, message and optional details."""

    http_status: int
    status: str
    message: str
    details: list[dict[str, Any]] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.http_status} {self.status}: {self.message}"

    def body(self) -> dict[str, Any]:
        """The JSON body Google APIs send with an error."""
        error: dict[str, Any] = {
            "code": self.http_status,
            "message": self.message,
            "status": self.status,
        }
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def rpc_status(self) -> dict[str, Any]:
        """The same error as a ``google.rpc.Status`` (what an operation's ``error`` holds)."""
        return {"code": GRPC_CODES[self.status], "message": self.message}

    @classmethod
    def invalid(cls, message: str) -> ApiError:
        return cls(400, "INVALID_ARGUMENT", message)

    @classmethod
    def not_found(cls, name: str) -> ApiError:
        return cls(404, "NOT_FOUND", f"Resource '{name}' was not found")

    @classmethod
    def failed_precondition(cls, message: str) -> ApiError:
        return cls(400, "FAILED_PRECONDITION", message)

    @classmethod
    def permission_denied(cls, permission: str, resource: str) -> ApiError:
        return cls(
            403,
            "PERMISSION_DENIED",
            f"Permission '{permission}' denied on resource '{resource}' (or it may not exist).",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "IAM_PERMISSION_DENIED",
                    "domain": "iam.googleapis.com",
                    "metadata": {"permission": permission, "resource": resource},
                }
            ],
        )
