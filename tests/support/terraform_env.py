"""What Terraform makes of an environment, read offline for the delivery tests.

tfparse evaluates an environment root (root → stack → modules, ``for_each`` expanded) the way
the Terraform tier's inventories do; from that graph this module takes:

* every IAM grant, as :class:`~tests.doubles.iam.Grant` values with their members resolved
  (a member Terraform computes, such as ``google_service_account.account[X].member`` or the
  workload identity pool's principal set, is rebuilt from the values it is made of);
* the Cloud Run services' Terraform-owned fields (runtime account, scaling, custom audiences,
  annotations), so the tests create and update services the way Terraform does;
* the GitHub workload identity provider and the ref allowed to deploy.

The project id and region of the tests are written into a copy of the environment's
settings.json before evaluating, so every name (accounts, members, resources) is the tests'
own. A test may edit the copy (``edit``) to see what a different Terraform would grant.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tfparse

from tests.doubles.iam import Grant, IamPolicy, WorkloadIdentityProvider

__all__ = [
    "ML_SERVICE_URI",
    "PROJECT_NUMBER",
    "TerraformEnvironment",
    "TerraformService",
    "evaluate",
]

REPO = Path(__file__).resolve().parents[2]
TFVARS = REPO / "tests" / "terraform" / "fixtures" / "test.tfvars"
# The project's number exists only after apply; any fixed number stands in for it.
PROJECT_NUMBER = "123456789012"
# So does the ML service's URL, which the gateway's environment names; tfparse would leave
# every value built from it unknown, so the evaluated copy reads this instead (see
# TerraformService.with_ml_service_uri).
ML_SERVICE_URI = "https://clarity-ml-service.known-after-apply.invalid"
_MEMBER = re.compile(
    r"^(serviceAccount:[^@\s]+@\S+|principalSet://\S+|user:\S+|group:\S+|allUsers|allAuthenticatedUsers)$"
)


@dataclass(frozen=True, kw_only=True)
class TerraformService:
    """A Cloud Run service as Terraform declares it (API JSON field names)."""

    key: str
    name: str
    runtime_account: str
    fields: Mapping[str, Any]  # Terraform-owned service fields: customAudiences, scaling, ...
    template: Mapping[str, Any]  # the template block as Terraform creates the service with it
    block: Mapping[str, Any]  # the evaluated resource, as tfparse gives it

    def with_ml_service_uri(self, uri: str) -> TerraformService:
        """This service with the ML service's real URL where Terraform would have it."""
        text = json.dumps(self.fields).replace(ML_SERVICE_URI, uri)
        return dataclasses.replace(self, fields=json.loads(text))


@dataclass(frozen=True, kw_only=True)
class TerraformEnvironment:
    """The grants, services and federation of one evaluated environment."""

    project: str
    region: str
    policy: IamPolicy
    services: Mapping[str, TerraformService]
    provider: WorkloadIdentityProvider
    apply_ref: str

    def account(self, account_id: str) -> str:
        """The email of a service account Terraform creates."""
        return f"{account_id}@{self.project}.iam.gserviceaccount.com"

    def grants_of(self, account_id: str) -> list[Grant]:
        """Every grant whose member is ``account_id``, sorted."""
        return sorted(self.policy.of(f"serviceAccount:{self.account(account_id)}"))


def evaluate(
    env: str,
    *,
    project: str,
    region: str,
    edit: Callable[[Path], None] | None = None,
) -> TerraformEnvironment:
    """Evaluate ``terraform/environments/<env>`` with the tests' project and region.

    ``edit`` gets the copied ``terraform/`` directory before evaluation (to delete a grant).
    """
    with _copy() as terraform:
        settings_path = terraform / "environments" / env / "settings.json"
        settings = json.loads(settings_path.read_text())
        settings.update(project_id=project, region=region)
        settings_path.write_text(json.dumps(settings))
        for source in (terraform / "stack").glob("*.tf"):
            text = source.read_text()
            source.write_text(text.replace("module.ml_service.uri", json.dumps(ML_SERVICE_URI)))
        if edit is not None:
            edit(terraform)
        root = terraform / "environments" / env
        shutil.copy(TFVARS, root / "test.tfvars")  # tfparse takes tfvars relative to the root
        graph = tfparse.load_from_path(str(root), vars_paths=["test.tfvars"])
    github = settings["github"]
    provider = WorkloadIdentityProvider(
        pool=f"projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/github",
        provider_id="github-actions",
        repository_id=github["repository_id"],
        owner_id=github["owner_id"],
    )
    resolve = _Resolver(project, provider)
    return TerraformEnvironment(
        project=project,
        region=region,
        policy=IamPolicy(grant for block in _iam_blocks(graph) for grant in resolve(block)),
        services=_services(graph, settings),
        provider=provider,
        apply_ref=github["apply_ref"],
    )


@contextlib.contextmanager
def _copy() -> Iterator[Path]:
    """A scratch copy of terraform/ (links kept: the roots link their shared files)."""
    with tempfile.TemporaryDirectory(prefix="terraform-env-") as scratch:
        target = Path(scratch) / "terraform"
        shutil.copytree(
            REPO / "terraform",
            target,
            symlinks=True,
            ignore=shutil.ignore_patterns("tools", ".terraform", "*.md"),
        )
        yield target


_IAM_TYPES = (
    "google_project_iam_member",
    "google_service_account_iam_member",
    "google_cloud_run_v2_service_iam_member",
)


def _iam_blocks(graph: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for kind in _IAM_TYPES:
        for block in graph.get(kind, []):
            if block["__tfmeta"].get("type") == "resource":
                yield block


class _Resolver:
    """Turns one IAM member resource of the graph into grants (none if its member is unknown)."""

    def __init__(self, project: str, provider: WorkloadIdentityProvider) -> None:
        self._project = project
        self._provider = provider

    def __call__(self, block: dict[str, Any]) -> list[Grant]:
        kind = block["__tfmeta"]["label"]
        item = _for_each_item(block)
        member = block.get("member")
        if not (isinstance(member, str) and _MEMBER.match(member)):
            member = self._member_from(item)
        if member is None:
            return []  # a service agent whose number exists only after apply
        if kind == "google_project_iam_member":
            resource = f"projects/{block['project']}"
        elif kind == "google_service_account_iam_member":
            account = block.get("service_account_id")
            if not isinstance(account, str):
                account = f"projects/{self._project}/serviceAccounts/{self._email(item['account'])}"
            resource = account
        else:
            resource = f"projects/{block['project']}/locations/{block['location']}/services/{block['name']}"
        return [Grant(member, str(block["role"]), resource)]

    def _member_from(self, item: Mapping[str, Any]) -> str | None:
        # modules/iam: google_service_account.account[<id>].member, for the granted account id.
        for field_name in ("user", "creator"):
            if field_name in item:
                return f"serviceAccount:{self._email(item[field_name])}"
        if "account" in item and "role" in item:
            return f"serviceAccount:{self._email(item['account'])}"
        # modules/github-oidc: the pool's principal set for an identity bound to a ref.
        if "ref" in item:
            base = f"principalSet://iam.googleapis.com/{self._provider.pool}"
            if item["ref"] is None:
                return f"{base}/attribute.repository_id/{self._provider.repository_id}"
            return f"{base}/attribute.repository_ref/{self._provider.repository_id}@{item['ref']}"
        return None

    def _email(self, account_id: str) -> str:
        return f"{account_id}@{self._project}.iam.gserviceaccount.com"


def _for_each_item(block: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``each.value`` of a for_each instance (from the key at the end of its address)."""
    match = re.search(r'\["(?P<key>[^"]+)"\]$', str(block["__tfmeta"]["path"]))
    items = block.get("for_each")
    if match is None or not isinstance(items, Mapping):
        return {}
    value = items.get(match.group("key"))
    return value if isinstance(value, Mapping) else {}


def _services(graph: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, TerraformService]:
    by_name = {
        block["name"]: block
        for block in graph.get("google_cloud_run_v2_service", [])
        if block["__tfmeta"].get("type") == "resource"
    }
    services = {}
    for key, declared in settings["services"].items():
        block = by_name[declared["name"]]
        template = block["template"]
        fields: dict[str, Any] = {}
        if block.get("custom_audiences"):
            fields["customAudiences"] = list(block["custom_audiences"])
        scaling = block.get("scaling")
        if isinstance(scaling, Mapping) and scaling.get("min_instance_count") is not None:
            fields["scaling"] = {"minInstanceCount": scaling["min_instance_count"]}
        if block.get("annotations"):
            fields["annotations"] = dict(block["annotations"])
        template_scaling = template.get("scaling") or {}
        services[key] = TerraformService(
            key=key,
            name=declared["name"],
            runtime_account=str(template["service_account"]),
            fields=fields,
            block=block,
            template={
                "serviceAccount": template["service_account"],
                "scaling": {
                    k: v
                    for k, v in (
                        ("minInstanceCount", template_scaling.get("min_instance_count")),
                        ("maxInstanceCount", template_scaling.get("max_instance_count")),
                    )
                    if v
                },
            },
        )
    return services
