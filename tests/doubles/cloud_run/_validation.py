"""The synchronous checks of a service write: what the API rejects with 400 before any work."""

from __future__ import annotations

import re
from typing import Any

from ._errors import ApiError
from ._state import LATEST, REVISION, short_name

__all__ = ["validate_service_id", "validate_spec", "validate_traffic"]

_RESERVED_ENV = ("PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION")
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_TAG_AND_SERVICE = 46  # the two make one DNS label of the tag URL ({tag}---{service}-{hash}...)


def validate_service_id(service_id: str) -> None:
    if not _DNS_LABEL.match(service_id) or len(service_id) > 49:
        msg = (
            f"service_id {service_id!r} must be 1-49 lowercase letters, digits or hyphens, "
            "start with a letter and not end with a hyphen."
        )
        raise ApiError.invalid(msg)


def validate_spec(service: Any) -> None:
    """Template (image, reserved env, revision name) and traffic of a service to be written."""
    service_id = short_name(service.name)
    template = service.template
    if not template.containers or not template.containers[0].image:
        msg = "template.containers[0].image is required."
        raise ApiError.invalid(msg)
    for index, container in enumerate(template.containers):
        reserved = sorted({env.name for env in container.env} & set(_RESERVED_ENV))
        if reserved:
            msg = (
                f"template.containers[{index}].env: the following reserved env names were "
                f"provided: {', '.join(reserved)}. These values are automatically set by "
                "the system."
            )
            raise ApiError.invalid(msg)
    if template.revision and (
        not template.revision.startswith(service_id + "-")
        or not _DNS_LABEL.match(template.revision)
        or len(template.revision) > 63
    ):
        msg = (
            f"template.revision {template.revision!r}: revision name must be prefixed by "
            f"the name of the enclosing Service with a trailing -, as in '{service_id}-...', "
            "use lowercase letters, digits and hyphens, and be at most 63 characters."
        )
        raise ApiError.invalid(msg)
    validate_traffic(service.traffic, service_id=service_id)


def validate_traffic(traffic: Any, *, service_id: str = "") -> None:
    """Synchronous checks of traffic targets (400 INVALID_ARGUMENT)."""
    total = 0
    tags: set[str] = set()
    for index, target in enumerate(traffic):
        where = f"traffic[{index}]"
        if target.type_ == REVISION and not target.revision:
            msg = f"{where}: a REVISION target needs a revision name."
            raise ApiError.invalid(msg)
        if target.type_ == LATEST and target.revision:
            msg = f"{where}: a LATEST target must not name a revision."
            raise ApiError.invalid(msg)
        if target.type_ not in (REVISION, LATEST):
            msg = (
                f"{where}.type must be TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION or "
                "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST."
            )
            raise ApiError.invalid(msg)
        if not 0 <= target.percent <= 100:
            msg = f"{where}.percent must be between 0 and 100."
            raise ApiError.invalid(msg)
        if target.tag:
            if not _DNS_LABEL.match(target.tag) or len(target.tag) > 46:
                msg = f"{where}.tag {target.tag!r} must be lowercase letters, digits or hyphens."
                raise ApiError.invalid(msg)
            if len(target.tag) + len(service_id) > _TAG_AND_SERVICE:
                msg = (
                    f"{where}.tag: traffic tag {target.tag!r} and service name {service_id!r} "
                    f"together are too long. Combined traffic tag and service name cannot "
                    f"exceed {_TAG_AND_SERVICE} characters."
                )
                raise ApiError.invalid(msg)
            if target.tag in tags:
                msg = f"{where}.tag {target.tag!r} is used more than once."
                raise ApiError.invalid(msg)
            tags.add(target.tag)
        total += target.percent
    if total != 100:
        msg = f"The traffic percentages must add up to 100, they add up to {total}."
        raise ApiError.invalid(msg)
