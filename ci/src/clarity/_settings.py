"""Validation of function inputs, and what the module makes of an environment's settings.

Everything here is plain Python: the Dagger functions call it before building any
container, so bad input fails fast with a message that says what to pass instead.
The settings file (``terraform/environments/<env>/settings.json``) is parsed by the delivery
library's :func:`clarity_delivery.parse_settings`, the one set of rules for it; so are
versions, commits, regions and environments. What stays here is about the module: image
addresses, the stages ``deploy`` runs and the approval they need, and Terraform's inputs.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from clarity_delivery import (
    ENVIRONMENTS,
    ConfigError,
    check_environment,
    check_region,
    parse_commit,
    parse_version,
)
from clarity_delivery import EnvironmentSettings as DeliverySettings
from clarity_delivery import parse_settings as parse_delivery_settings
from clarity_delivery import registry_host as delivery_registry_host
from clarity_delivery.promotion import PROMOTED_FROM

from clarity._errors import ApprovalError, ClarityError, InputError, SettingsError

__all__ = [
    "BILLING_ACCOUNT_PATTERN",
    "EMAIL_PATTERN",
    "ENVIRONMENTS",
    "PROTECTED_ENVIRONMENTS",
    "SERVICES",
    "EnvironmentSettings",
    "TerraformInputs",
    "check_approval",
    "deploy_stages",
    "dockerfile",
    "image_address",
    "parse_settings",
    "pinned_address",
    "project_version",
    "registry_host",
    "service_of",
    "settings_path",
    "terraform_inputs",
    "validate_commit",
    "validate_environment",
    "validate_region",
    "validate_rollback_target",
    "validate_service",
    "validate_version",
]

PROTECTED_ENVIRONMENTS: Final = frozenset({"prod"})
SETTINGS_DIR: Final = "terraform/environments"
SERVICES: Final = ("api-gateway", "ml-service")
"""The images the pipeline builds, each from docker/<service>/Dockerfile."""

_PINNED = re.compile(r"^(?P<name>[^@\s]+)@(?P<digest>sha256:[0-9a-f]{64})$")
# The formats the validation blocks of terraform/environments/<env>/variables.tf enforce,
# character for character (RE2 and Python agree on them; matched with fullmatch).
BILLING_ACCOUNT_PATTERN: Final = r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$"
EMAIL_PATTERN: Final = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_BILLING_ACCOUNT = re.compile(BILLING_ACCOUNT_PATTERN)
_EMAIL = re.compile(EMAIL_PATTERN)


@contextmanager
def _reported_as(error: type[ClarityError]) -> Iterator[None]:
    """The delivery library's ConfigError raised as this module's ``error``, same message."""
    try:
        yield
    except ConfigError as exc:
        raise error(exc.message) from exc


def validate_environment(env: str) -> str:
    """Return ``env`` if it is a known environment."""
    try:
        return check_environment(env)
    except ConfigError:
        msg = f"unknown environment {env!r}: use one of {', '.join(ENVIRONMENTS)}"
        raise InputError(msg) from None


def validate_version(version: str) -> str:
    """Return ``version`` if it is a semantic version (``1.2.3``, ``v1.2.3-rc.1``).

    The delivery library's :func:`~clarity_delivery.parse_version` is the one definition
    (what ``clarity-deploy`` accepts at the end of the pipeline); on top of it the version
    must be usable as an image tag as given: no surrounding blanks, no ``+build`` part.
    """
    try:
        parsed = parse_version(version)
    except ConfigError:
        parsed = None
    if parsed is None or str(parsed) != version.removeprefix("v") or "+" in version:
        msg = f"invalid version {version!r}: use a semantic version such as 1.4.0 or 1.4.0-rc.1"
        raise InputError(msg)
    return version


def validate_commit(commit: str) -> str:
    """Return ``commit`` if it is a lower-case hexadecimal git SHA (7 to 40 digits).

    The library's :func:`~clarity_delivery.parse_commit` is the rule; the module passes the
    SHA on as given, so it must already be in the form the library would make of it.
    """
    try:
        parsed = parse_commit(commit)
    except ConfigError:
        parsed = None
    if parsed != commit:
        msg = (
            f"invalid commit {commit!r}: pass the git SHA being deployed "
            "(e.g. --commit $(git rev-parse HEAD))"
        )
        raise InputError(msg)
    return commit


def validate_region(region: str) -> str:
    """Return ``region`` if it looks like a Google Cloud region (``us-central1``)."""
    with _reported_as(InputError):
        return check_region(region)


def validate_service(service: str, known: Mapping[str, object]) -> str:
    """Return ``service`` if it names one of the services in ``known``."""
    if service not in known:
        names = ", ".join(sorted(known)) or "none"
        msg = f"unknown service {service!r}: the settings define {names}"
        raise InputError(msg)
    return service


def validate_rollback_target(target: str) -> str:
    """Return ``target`` if it is ``previous`` or a semantic version."""
    if target == "previous":
        return target
    try:
        return validate_version(target)
    except InputError:
        msg = f"invalid rollback target {target!r}: use 'previous' or a released version"
        raise InputError(msg) from None


@dataclass(frozen=True)
class EnvironmentSettings:
    """An environment's settings as the delivery library parsed them, in the module's terms."""

    delivery: DeliverySettings

    @property
    def environment(self) -> str:
        """``dev``, ``staging`` or ``prod``."""
        return self.delivery.environment

    @property
    def project_id(self) -> str:
        """The Google Cloud project of the environment."""
        return self.delivery.project_id

    @property
    def region(self) -> str:
        """Where the services and the Artifact Registry repository live."""
        return self.delivery.region

    @property
    def repository(self) -> str:
        """The Artifact Registry repository images are published to."""
        return self.delivery.artifact_repository

    @property
    def services(self) -> tuple[str, ...]:
        """The services' keys, sorted."""
        return tuple(sorted(self.delivery.services))

    @property
    def require_approval(self) -> bool:
        """Whether the settings ask for an approval of every change."""
        return self.delivery.rollout.require_approval

    @property
    def monitoring_enabled(self) -> bool:
        """Whether the root creates alerting (and so needs an alert email)."""
        return self.delivery.monitoring_enabled


def settings_path(env: str) -> str:
    """Path of the settings file for ``env``, relative to the repository root."""
    return f"{SETTINGS_DIR}/{validate_environment(env)}/settings.json"


def parse_settings(env: str, text: str) -> EnvironmentSettings:
    """Parse and validate the settings file of ``env`` with the delivery library's rules."""
    where = settings_path(env)
    with _reported_as(SettingsError):
        return EnvironmentSettings(parse_delivery_settings(text, env, where=where))


@dataclass(frozen=True, kw_only=True)
class TerraformInputs:
    """The input variables of an environment root that settings.json does not hold."""

    billing_account: str
    alert_notification_email: str | None

    def environment(self) -> dict[str, str]:
        """``TF_VAR_*`` variables for the terraform container.

        An absent alert email is left unset (Terraform's null), never ``""``: the root's
        email validation accepts null but not an empty string.
        """
        variables = {"TF_VAR_billing_account": self.billing_account}
        if self.alert_notification_email is not None:
            variables["TF_VAR_alert_notification_email"] = self.alert_notification_email
        return variables


def terraform_inputs(
    settings: EnvironmentSettings, *, billing_account: str, alert_email: str, function_name: str
) -> TerraformInputs:
    """Validate ``--billing-account`` and ``--alert-email`` as the environment root would.

    The rules are those of the root's validation blocks, checked here so that a bad value
    fails before any container is built rather than after ``terraform init``.
    """
    env = settings.environment
    if not billing_account:
        msg = (
            f"{function_name} needs --billing-account: the id of the billing account that "
            f"pays for {env}, such as 012345-6789AB-CDEF01 (`gcloud billing accounts list`)"
        )
        raise InputError(msg)
    if not _BILLING_ACCOUNT.fullmatch(billing_account):
        msg = (
            f"invalid --billing-account {billing_account!r}: use a billing account id such "
            "as 012345-6789AB-CDEF01 (upper-case hex, `gcloud billing accounts list`)"
        )
        raise InputError(msg)
    if not alert_email:
        if settings.monitoring_enabled:
            msg = (
                f"{function_name} --env {env} needs --alert-email: {settings_path(env)} has "
                "monitoring_enabled = true, so pass the address that receives its alerts"
            )
            raise InputError(msg)
        return TerraformInputs(billing_account=billing_account, alert_notification_email=None)
    if not _EMAIL.fullmatch(alert_email):
        msg = f"invalid --alert-email {alert_email!r}: use an email address such as oncall@example.com"
        raise InputError(msg)
    return TerraformInputs(billing_account=billing_account, alert_notification_email=alert_email)


def check_approval(settings: EnvironmentSettings, *, approve: bool) -> None:
    """Refuse a change to a protected environment that was not explicitly approved."""
    env = settings.environment
    if approve:
        return
    if env in PROTECTED_ENVIRONMENTS or settings.require_approval:
        msg = (
            f"{env} refuses changes without approval: re-run with --approve once the "
            "change has been reviewed"
        )
        raise ApprovalError(msg)


def registry_host(region: str) -> str:
    """The Artifact Registry Docker host of ``region``."""
    return delivery_registry_host(validate_region(region))


def image_address(settings: EnvironmentSettings, service: str, version: str) -> str:
    """``{region}-docker.pkg.dev/{project}/{repository}/{service}:{version}``."""
    validate_service(service, dict.fromkeys(settings.services))
    return settings.delivery.image_for(service, validate_version(version))


def pinned_address(published: str) -> str:
    """Reduce what ``Container.publish`` returned to ``name@sha256:...``.

    The engine returns ``host/path:tag@sha256:...``; a digest reference keeps the name
    and drops the tag, which the digest makes redundant.
    """
    match = _PINNED.match(published)
    if not match:
        msg = f"expected a digest reference, got {published!r}"
        raise InputError(msg)
    name = match["name"]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return f"{name}@{match['digest']}"


def dockerfile(service: str) -> str:
    """The Dockerfile of ``service``, relative to the repository root (the build context)."""
    return f"docker/{validate_service(service, dict.fromkeys(SERVICES))}/Dockerfile"


def service_of(reference: str) -> str:
    """The service a digest reference belongs to (its last path component)."""
    name = pinned_address(reference).split("@", 1)[0]
    return validate_service(name.rsplit("/", 1)[-1], dict.fromkeys(SERVICES))


def project_version(pyproject: str) -> str:
    """The ``[project].version`` of a pyproject.toml (the version release management bumps)."""
    try:
        data = tomllib.loads(pyproject)
    except tomllib.TOMLDecodeError as exc:
        msg = f"pyproject.toml is not valid TOML: {exc}"
        raise InputError(msg) from exc
    project = data.get("project")
    version = project.get("version") if isinstance(project, dict) else None
    if not isinstance(version, str):
        msg = "pyproject.toml has no [project].version: pass --version explicitly"
        raise InputError(msg)
    return validate_version(version)


def deploy_stages(
    settings: EnvironmentSettings, *, approve: bool, dry_run: bool, signs: bool = False
) -> tuple[str, ...]:
    """The stages ``deploy`` runs, in order; refuses unapproved protected changes.

    An environment that runs promoted digests (prod) builds nothing: it reads the release's
    record in the environment it comes from, verifies its signatures and copies its digests.
    A dry run changes nothing (plan instead of apply, no push or copy, rollout simulated),
    so it needs no approval.
    """
    promoted = settings.environment in PROMOTED_FROM
    if dry_run:
        first = ("staged", "verify") if promoted else ("build", "scan")
        return (*first, "plan", "rollout --dry-run")
    check_approval(settings, approve=approve)
    if promoted:
        return ("staged", "verify", "promote", "apply", "rollout")
    return ("build", "scan", "publish", *(("sign",) if signs else ()), "apply", "rollout")
