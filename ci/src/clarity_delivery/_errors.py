"""The delivery library's errors: one tree, one exit code per kind.

::

    DeployError (1)                    anything that stops a delivery command
    ├── ConfigError (2)                bad input: unknown environment/service, malformed version, bad settings
    │   ├── ApprovalRequired (2)       the environment needs --approve
    │   ├── VersionNotFound (2)        rollback --to names a version no revision carries
    │   └── PromotionRefused (2)       the release did not pass the environment it would come from
    ├── CredentialsError (4)           no usable Google credentials, or a token could not be minted
    ├── PermissionDenied (4)           the API refused: says which permission and which role grants it
    ├── ServiceUnreachable (6)         the Admin API or a health endpoint could not be reached after retries
    ├── ConcurrentRollout (3)          another rollout changed the service (etag) or holds its lease
    ├── RolloutAborted (1)             the candidate never became Ready; traffic was not touched
    │   └── RevisionNameTaken (1)      the candidate's name exists with another configuration
    ├── RolloutFailed (1)              health analysis failed; traffic went back to the previous stable
    ├── OperationFailed (1)            Cloud Run accepted a write but its operation failed
    ├── HealthCheckFailed (1)          a health check (manual check, or after a rollback) failed
    ├── JourneyFailed (1)              a step of the user's journey through the deployed backend failed
    ├── CopyFailed (1)                 a registry did not take an image by digest as it was given
    └── RollbackFailed (5)             restoring traffic failed: a person must look now

An error says three things, joined into :attr:`DeployError.message`: what happened (``cause``),
what production looks like now (``state``, once it is known: a rollout that fails sets it after
restoring) and what to do (``advice``). The CLI catches :class:`DeployError` once, prints the
message as its last line and exits with ``error.exit_code``. Third-party errors
(google-api-core, google-auth, httpx) are mapped where they enter, never leaked.
"""

from __future__ import annotations

__all__ = [
    "ApprovalRequired",
    "ConcurrentRollout",
    "ConfigError",
    "CopyFailed",
    "CredentialsError",
    "DeployError",
    "HealthCheckFailed",
    "JourneyFailed",
    "OperationFailed",
    "PermissionDenied",
    "PromotionRefused",
    "RevisionNameTaken",
    "RollbackFailed",
    "RolloutAborted",
    "RolloutFailed",
    "ServiceUnreachable",
    "VersionNotFound",
]


class DeployError(Exception):
    """Root of every expected failure of a delivery command."""

    exit_code = 1

    def __init__(self, message: str, *, advice: str = "") -> None:
        super().__init__(message)
        self.cause = message
        self.advice = advice
        self.state = ""

    @property
    def message(self) -> str:
        """One line: what happened, what production looks like now, what to do."""
        if not self.state and not self.advice:
            return self.cause
        parts = [self.cause.rstrip(".") + "."]
        if self.state:
            parts.append(f"Production: {self.state.rstrip('.')}.")
        if self.advice:
            parts.append(self.advice)
        return " ".join(parts)

    def __str__(self) -> str:
        return self.message


class ConfigError(DeployError):
    """Bad input or settings: nothing was changed."""

    exit_code = 2


class ApprovalRequired(ConfigError):
    """The environment requires an explicit approval (``--approve``)."""


class VersionNotFound(ConfigError):
    """No revision of a service carries the requested version."""


class PromotionRefused(ConfigError):
    """The release has no succeeded, digest-pinned rollout in the environment it is promoted from."""


class CredentialsError(DeployError):
    """No usable Google credentials, or an identity token could not be minted."""

    exit_code = 4


class PermissionDenied(DeployError):
    """The Cloud Run Admin API refused the call for lack of a permission."""

    exit_code = 4


class ServiceUnreachable(DeployError):
    """The API (or a health endpoint) did not answer after bounded retries."""

    exit_code = 6


class ConcurrentRollout(DeployError):
    """Another rollout changed the service or holds its lease; we left its traffic alone."""

    exit_code = 3


class RolloutAborted(DeployError):
    """The candidate revision never became Ready; traffic was not touched."""


class RevisionNameTaken(RolloutAborted):
    """A revision of the candidate's name already exists with another configuration (409
    ``ALREADY_EXISTS``): nothing was written, and it is not a concurrent rollout."""


class RolloutFailed(DeployError):
    """Health analysis failed and traffic was returned to the previous stable revision."""

    first_failure_at: float | None = None
    """When the first failed round started (``time.monotonic``), for the time to rollback."""


class OperationFailed(DeployError):
    """Cloud Run accepted a write, but the operation that applies it failed (permanently)."""


class HealthCheckFailed(DeployError):
    """One or more health checks failed."""


class JourneyFailed(DeployError):
    """A step of the user's journey (ingest, processed, resend, reject) did not go as it must."""

    def __init__(self, message: str, *, step: str) -> None:
        super().__init__(message)
        self.step = step


class CopyFailed(DeployError):
    """A registry refused an image, or served or stored other bytes than the digest names."""


class RollbackFailed(DeployError):
    """Traffic could not be restored: manual intervention is needed."""

    exit_code = 5
