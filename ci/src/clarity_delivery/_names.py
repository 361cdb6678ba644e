"""The names Google Cloud accepts, and the room a service name must leave for rollouts.

A project id, a region, an Artifact Registry repository and a Cloud Run service name each
have a format; a service name must also leave room for every traffic tag rollouts give its
revisions (Cloud Run allows a tag and the service name together at most 46 characters: they
make one DNS label of the tag URL) and for the revision names rollouts derive from it (at most
63 characters).
"""

from __future__ import annotations

import re

from ._errors import ConfigError

__all__ = ["ROLLOUT_TAGS", "check_name_fits", "valid"]

_NAME_CHARACTERS = "use lowercase letters, digits and hyphens"
_FORMATS = {  # what a value must look like, and what to say when it does not
    "project_id": (
        re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$"),
        "not a valid Google Cloud project id",
    ),
    "region": (
        re.compile(r"^[a-z]+-[a-z]+[1-9][0-9]*$"),
        "not a Cloud Run region such as us-central1",
    ),
    "repository": (re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$"), _NAME_CHARACTERS),
    "service name": (re.compile(r"^[a-z][a-z0-9-]{0,62}$"), _NAME_CHARACTERS),
}
ROLLOUT_TAGS = ("candidate", "green", "stable", "previous", "blue")
"""The traffic tags rollouts give revisions."""
_TAG_URL_LIMIT = 46  # a tag and its service name together (they form one DNS label of the tag URL)


def valid(name: str, value: object, where: str = "") -> str:
    """``value`` if it is a string in the format of ``name``; else ConfigError saying why."""
    pattern, hint = _FORMATS[name]
    if not isinstance(value, str) or not pattern.match(value):
        prefix = f"{where}: " if where else ""
        msg = f"{prefix}invalid {name} {value!r}: {hint}"
        raise ConfigError(msg)
    return value


def check_name_fits(name: str, where: str) -> None:
    """A service name that leaves room for every rollout tag, hence also for revision names
    (at most 37 characters leave 26 of the 63 for ``-{version}-{commit}-r{n}``)."""
    valid("service name", name, where)
    longest = max(ROLLOUT_TAGS, key=len)
    if len(name) + len(longest) > _TAG_URL_LIMIT:
        msg = (
            f"{where}: service name {name!r} is too long: Cloud Run allows a traffic tag and "
            f"the service name together at most {_TAG_URL_LIMIT} characters, and rollouts tag "
            f"revisions {longest!r}; use at most {_TAG_URL_LIMIT - len(longest)} characters"
        )
        raise ConfigError(msg)
