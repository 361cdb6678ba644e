"""Inputs the functions read from the source before building anything.

The rules live in :mod:`clarity._settings`; these helpers only fetch the files they judge
(an environment's settings.json, pyproject.toml) from the module's source directory.
"""

from __future__ import annotations

import dagger

from clarity._settings import (
    EnvironmentSettings,
    TerraformInputs,
    parse_settings,
    project_version,
    settings_path,
    terraform_inputs,
    validate_version,
)

__all__ = ["environment_settings", "release_version", "terraform_variables"]


async def environment_settings(source: dagger.Directory, env: str) -> EnvironmentSettings:
    """The validated settings.json of ``env``."""
    text = await source.file(settings_path(env)).contents()
    return parse_settings(env, text)


async def release_version(source: dagger.Directory, version: str | None) -> str:
    """``version`` if given and valid, else pyproject.toml's ``[project].version``."""
    if version is not None:
        return validate_version(version)
    return project_version(await source.file("pyproject.toml").contents())


def terraform_variables(
    settings: EnvironmentSettings, billing_account: str, alert_email: str, function_name: str
) -> TerraformInputs:
    """``--billing-account`` and ``--alert-email`` checked by the root's own rules."""
    return terraform_inputs(
        settings,
        billing_account=billing_account,
        alert_email=alert_email,
        function_name=function_name,
    )
