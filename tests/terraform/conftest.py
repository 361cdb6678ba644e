"""Fixtures of the Terraform tier."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from terraform.tools.provider_schema import (
    GITHUB,
    GOOGLE,
    GOOGLE_FLOOR,
    ProviderPackage,
    ProviderSchema,
    SchemaToolError,
    load_schema,
)
from tests.terraform._terraform import ENVIRONMENTS, ENVIRONMENTS_DIR, Graph, parse_graph


@pytest.fixture(scope="session", autouse=True)
def _terraform_cli_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the embedded Terraform offline and away from the user's CLI configuration."""
    rc = tmp_path_factory.mktemp("terraform-cli") / "terraformrc"
    rc.write_text("")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TF_CLI_CONFIG_FILE", str(rc))
        patch.setenv("CHECKPOINT_DISABLE", "1")
        patch.setenv("TF_IN_AUTOMATION", "1")
        yield


@pytest.fixture(scope="session")
def graphs() -> dict[str, Graph]:
    """The evaluated module graph of every environment."""
    return {env: parse_graph(ENVIRONMENTS_DIR / env) for env in ENVIRONMENTS}


@pytest.fixture(scope="session")
def environments_dir() -> Path:
    """terraform/environments."""
    return ENVIRONMENTS_DIR


def _provider_schema(package: ProviderPackage) -> ProviderSchema:
    try:
        return load_schema(package)
    except SchemaToolError as exc:
        pytest.fail(
            f"{exc}\n`make provision` caches every pinned provider schema "
            "(python -m terraform.tools.provider_schema fetch)."
        )


@pytest.fixture(scope="session")
def google_schema() -> ProviderSchema:
    """The google provider's schema at the version `terraform init` installs (6.50.0)."""
    return _provider_schema(GOOGLE)


@pytest.fixture(scope="session")
def google_floor_schema() -> ProviderSchema:
    """The google provider's schema at the lowest version versions.tf admits (6.14.0)."""
    return _provider_schema(GOOGLE_FLOOR)


@pytest.fixture(scope="session")
def github_schema() -> ProviderSchema:
    """The github provider's schema at the release terraform/github pins (6.9.0)."""
    return _provider_schema(GITHUB)
