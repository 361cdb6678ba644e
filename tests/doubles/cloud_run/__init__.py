"""A double of the Cloud Run Admin API v2 that runs every revision as a real local process.

See README.md next to this file for what it mirrors and where it differs from the real API.
"""

from ._api import ApiRecord
from ._double import CloudRunDouble
from ._faults import Call, CallStep, StepRecord
from ._processes import (
    FIXTURE_APP,
    ImageCommand,
    RevisionProcessInfo,
    default_image_command,
    fixture_app_command,
    image_short_name,
)
from ._proxy_hooks import ProxyRecord

__all__ = [
    "FIXTURE_APP",
    "ApiRecord",
    "Call",
    "CallStep",
    "CloudRunDouble",
    "ImageCommand",
    "ProxyRecord",
    "RevisionProcessInfo",
    "StepRecord",
    "default_image_command",
    "fixture_app_command",
    "image_short_name",
]
