"""The real init / validate / plan tier.

`terraform validate` and `plan` need the hashicorp/google provider binary, which
cannot be downloaded on the offline build machines: there these tests skip and
say so. Where the registry is reachable (the Dagger `plan` function), they run
for real: validate needs only the provider; plan also needs Google credentials
(GOOGLE_OAUTH_ACCESS_TOKEN, GOOGLE_APPLICATION_CREDENTIALS or GOOGLE_CREDENTIALS)
and the organisation's inputs (TF_VAR_billing_account, and
TF_VAR_alert_notification_email where monitoring is on).

What runs everywhere: `terraform init -backend=false` up to the provider step,
which loads every file of the environment, the stack and the leaf modules (moved
blocks included) in Terraform core and fails on any configuration error before it
looks for a provider.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.terraform._terraform import ENVIRONMENTS, TERRAFORM_DIR, run_terraform

pytestmark = pytest.mark.terraform

_PROVIDER_UNAVAILABLE = frozenset(
    {
        "Failed to query available provider packages",
        "Failed to install provider",
        "Incompatible provider version",
    }
)
_CREDENTIALS = ("GOOGLE_OAUTH_ACCESS_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CREDENTIALS")


@dataclass(frozen=True)
class Initialised:
    """An environment after `init -backend=false` in a scratch copy of terraform/."""

    directory: Path
    returncode: int
    stdout: str
    errors: tuple[str, ...]

    @property
    def provider_available(self) -> bool:
        return self.returncode == 0


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Initialised]:
    """Each environment initialised without a backend, in a copy: no .terraform/ in the tree."""
    copy = tmp_path_factory.mktemp("terraform") / "terraform"
    shutil.copytree(TERRAFORM_DIR, copy, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    result = {}
    for env in ENVIRONMENTS:
        directory = copy / "environments" / env
        run = run_terraform("init", directory, input=False, backend=False)
        errors = tuple(re.findall(r"^Error: (.+)$", run.stderr, flags=re.MULTILINE))
        result[env] = Initialised(directory, run.returncode, run.stdout, errors)
    return result


def _require_provider(initialised: Initialised) -> None:
    if not initialised.provider_available:
        pytest.skip(
            "the hashicorp/google provider cannot be obtained here "
            f"({'; '.join(initialised.errors)}); this tier runs in the Dagger `plan` function"
        )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_configuration_loads_in_terraform_core(
    initialised: dict[str, Initialised], env: str
) -> None:
    result = initialised[env]
    assert "- stack in ../../stack" in result.stdout
    for module in (
        "api_gateway",
        "artifact_registry",
        "budget",
        "firestore",
        "github_oidc",
        "iam",
        "ml_service",
        "monitoring",
        "pubsub",
        "secrets",
    ):
        assert f"- stack.{module} in ../../modules/" in result.stdout
    unexpected = set(result.errors) - _PROVIDER_UNAVAILABLE
    assert unexpected == set(), f"terraform init found configuration errors: {sorted(unexpected)}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_validate(initialised: dict[str, Initialised], env: str) -> None:
    _require_provider(initialised[env])
    run = run_terraform("validate", initialised[env].directory, json=...)
    report = json.loads(run.stdout)
    assert report["valid"] is True, json.dumps(report["diagnostics"], indent=2)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_plan(initialised: dict[str, Initialised], env: str) -> None:
    _require_provider(initialised[env])
    if not any(os.environ.get(name) for name in _CREDENTIALS):
        pytest.skip(f"no Google credentials ({', '.join(_CREDENTIALS)}): plan reads the project")
    if not os.environ.get("TF_VAR_billing_account"):  # noqa: SIM112 - Terraform's own name
        pytest.skip("TF_VAR_billing_account is not set: the budget needs the real billing account")
    run = run_terraform(
        "plan", initialised[env].directory, input=False, lock=False, detailed_exitcode=...
    )
    assert run.returncode in (0, 2), run.stderr
