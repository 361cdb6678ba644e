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

Only a provider registry that cannot be reached is a reason to skip. Terraform reports an
impossible version constraint under the same heading ("Failed to query available provider
packages"), so the skip reads the reason under the heading, not the heading.
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

_PROVIDER_STEP = frozenset(
    {
        "Failed to query available provider packages",
        "Failed to install provider",
        "Incompatible provider version",
    }
)
# What Terraform says when the registry or a mirror cannot be reached (the detail under the
# heading, line breaks folded): DNS, refused or timed-out connections, failed requests.
_UNREACHABLE = re.compile(
    r"could not connect to|failed to request discovery document|no such host|dial tcp"
    r"|connection refused|i/o timeout|TLS handshake timeout|network is unreachable"
    r"|the request failed after \d+ attempts|Temporary failure in name resolution",
    re.IGNORECASE,
)
_CREDENTIALS = ("GOOGLE_OAUTH_ACCESS_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CREDENTIALS")


@dataclass(frozen=True)
class Diagnostic:
    """One ``Error:`` of a Terraform run: the heading and the text under it (lines folded)."""

    summary: str
    detail: str

    @property
    def registry_unreachable(self) -> bool:
        """A provider-step error caused by the network, not by the configuration."""
        return self.summary in _PROVIDER_STEP and bool(_UNREACHABLE.search(self.detail))


def diagnostics(stderr: str) -> tuple[Diagnostic, ...]:
    """The errors of a Terraform run, in order."""
    found = []
    for block in re.split(r"^Error: ", stderr, flags=re.MULTILINE)[1:]:
        summary, _, detail = block.partition("\n")
        found.append(Diagnostic(summary.strip(), " ".join(detail.split())))
    return tuple(found)


@dataclass(frozen=True)
class Initialised:
    """An environment after `init -backend=false` in a scratch copy of terraform/."""

    directory: Path
    returncode: int
    stdout: str
    diagnostics: tuple[Diagnostic, ...]

    @property
    def provider_available(self) -> bool:
        return self.returncode == 0

    @property
    def errors(self) -> tuple[str, ...]:
        return tuple(d.summary for d in self.diagnostics)


def initialise(directory: Path, **options: object) -> Initialised:
    """`terraform init -backend=false` in ``directory`` with the embedded Terraform core."""
    run = run_terraform("init", directory, input=False, backend=False, **options)
    return Initialised(directory, run.returncode, run.stdout, diagnostics(run.stderr))


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Initialised]:
    """Each environment initialised without a backend, in a copy: no .terraform/ in the tree."""
    copy = tmp_path_factory.mktemp("terraform") / "terraform"
    shutil.copytree(TERRAFORM_DIR, copy, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    result = {}
    for env in ENVIRONMENTS:
        result[env] = initialise(copy / "environments" / env)
    return result


def _require_provider(initialised: Initialised) -> None:
    """Skip when only an unreachable registry stopped init; any other failure fails."""
    if initialised.provider_available:
        return
    if initialised.diagnostics and all(d.registry_unreachable for d in initialised.diagnostics):
        pytest.skip(
            "the hashicorp/google provider registry cannot be reached here "
            f"({'; '.join(initialised.errors)}); this tier runs in the Dagger `plan` function"
        )
    details = "\n".join(f"{d.summary}: {d.detail}" for d in initialised.diagnostics)
    pytest.fail(f"terraform init failed, and not for want of a network:\n{details}")


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
    unexpected = [
        f"{d.summary}: {d.detail}" for d in result.diagnostics if not d.registry_unreachable
    ]
    assert unexpected == [], f"terraform init found configuration errors: {unexpected}"


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


_ROOT = """terraform {{
  required_providers {{
    google = {{ source = "hashicorp/google", version = "{constraint}" }}
  }}
}}
"""


def _root(directory: Path, constraint: str) -> Path:
    directory.mkdir()
    (directory / "main.tf").write_text(_ROOT.format(constraint=constraint))
    return directory


def _local_mirror(directory: Path, version: str) -> Path:
    """A provider directory with one google release (init lists versions without running it)."""
    platform = (
        directory / "registry.terraform.io" / "hashicorp" / "google" / version / "linux_amd64"
    )
    platform.mkdir(parents=True)
    binary = platform / f"terraform-provider-google_v{version}_x5"
    binary.write_text("#!/bin/sh\nexit 1\n")
    binary.chmod(0o755)
    return directory


def test_an_impossible_version_constraint_fails_instead_of_skipping(tmp_path: Path) -> None:
    """Offline: the provider comes from a local directory, so init gets as far as matching
    versions, and says "Failed to query available provider packages" for a constraint
    nothing can satisfy."""
    init = initialise(
        _root(tmp_path / "root", ">= 7.0.0, < 6.0.0"),
        plugin_dir=str(_local_mirror(tmp_path / "mirror", "6.50.0")),
    )
    assert init.returncode != 0
    (error,) = init.diagnostics
    assert error.summary == "Failed to query available provider packages"
    assert "no available releases match the given constraints" in error.detail
    assert not error.registry_unreachable
    with pytest.raises(pytest.fail.Exception, match="not for want of a network"):
        _require_provider(init)


def test_an_unreachable_registry_skips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A provider mirror on a closed loopback port: the network error of an offline machine."""
    config = tmp_path / "terraformrc"
    config.write_text(
        'provider_installation {\n  network_mirror {\n    url = "https://127.0.0.1:9/"\n  }\n}\n'
    )
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(config))
    init = initialise(_root(tmp_path / "root", "~> 6.0"))
    assert init.returncode != 0
    assert [d.registry_unreachable for d in init.diagnostics] == [True]
    with pytest.raises(pytest.skip.Exception, match="registry cannot be reached"):
        _require_provider(init)
