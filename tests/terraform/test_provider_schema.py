"""Every .tf file under terraform/ checked against its provider's real schema: google for the
environments, github for terraform/github.

The schema is the one the provider's cdktf package ships (terraform/tools/provider_schema):
unknown types, arguments and blocks at any depth (dynamic blocks included), read-only
attributes set, required arguments and blocks missing, single blocks repeated, enum
literals outside the allowed values, ignore_changes paths that name nothing, and a
provider constraint the checked version falls outside of. Each kind is shown to be caught
on a fixture holding exactly that one error.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from terraform.tools.provider_schema import CheckReport, Finding, Kind, ProviderSchema, check_tree
from tests.terraform._terraform import FIXTURES, REPO, TERRAFORM_DIR

pytestmark = pytest.mark.terraform

SCHEMA_FIXTURES = FIXTURES / "schema"
_API = "google_cloud_run_v2_service.api"
_TOP_LEVEL_BLOCK = re.compile(r'^\s*(?:resource|data|provider)\s+"', re.MULTILINE)

PLANTED = {
    Kind.UNKNOWN_TYPE: Finding(
        "main.tf",
        1,
        "google_cloud_run_v3_service.api",
        Kind.UNKNOWN_TYPE,
        '"google_cloud_run_v3_service" is not a resource type of hashicorp/google 6.50.0 '
        '(did you mean "google_cloud_run_v2_service"?)',
    ),
    Kind.UNKNOWN_ARGUMENT: Finding(
        "main.tf",
        8,
        _API,
        Kind.UNKNOWN_ARGUMENT,
        'unknown argument "working_directory" in template.containers (did you mean "working_dir"?)',
    ),
    Kind.UNKNOWN_BLOCK: Finding(
        "main.tf",
        16,
        _API,
        Kind.UNKNOWN_BLOCK,
        'unknown block type "value_from" in template.containers.env',
    ),
    Kind.READ_ONLY: Finding(
        "main.tf",
        4,
        _API,
        Kind.READ_ONLY,
        '"uri" is read-only: the provider sets it, a configuration cannot',
    ),
    Kind.MISSING_ARGUMENT: Finding(
        "main.tf",
        6,
        _API,
        Kind.MISSING_ARGUMENT,
        'missing required argument "image" in template.containers',
    ),
    Kind.MISSING_BLOCK: Finding(
        "main.tf", 1, _API, Kind.MISSING_BLOCK, 'missing required block "template"'
    ),
    Kind.REPEATED_BLOCK: Finding(
        "main.tf",
        9,
        _API,
        Kind.REPEATED_BLOCK,
        'block "scaling" in template may appear only once; this is the second',
    ),
    Kind.ENUM: Finding(
        "main.tf",
        4,
        _API,
        Kind.ENUM,
        '"INGRESS_TRAFFIC_PUBLIC" is not an allowed value of ingress; allowed: '
        "INGRESS_TRAFFIC_ALL, INGRESS_TRAFFIC_INTERNAL_ONLY, INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
    ),
    Kind.IGNORE_CHANGES: Finding(
        "main.tf",
        12,
        _API,
        Kind.IGNORE_CHANGES,
        "ignore_changes names template[0].containers[0].images, but template.containers "
        'has no argument or block "images" (did you mean "image"?)',
    ),
    Kind.PROVIDER_VERSION: Finding(
        "main.tf",
        3,
        "terraform.required_providers.google",
        Kind.PROVIDER_VERSION,
        "the hashicorp/google schema checked is 6.50.0 (cdktf-cdktf-provider-google==16.12.1), "
        'which ">= 7.0.0" excludes: pin a matching package in '
        "terraform/tools/provider_schema/packages.py",
    ),
}


def _check(root: Path, schema: ProviderSchema) -> CheckReport:
    return check_tree(root, {schema.source: schema})


def _assert_tree_clean(report: CheckReport) -> None:
    files = sorted(TERRAFORM_DIR.rglob("*.tf"))
    blocks = sum(len(_TOP_LEVEL_BLOCK.findall(path.read_text())) for path in files)
    assert [str(finding) for finding in report.findings] == []
    assert report.unchecked == []
    assert (report.files, report.checked_blocks) == (len(files), blocks)


def _check_all(*schemas: ProviderSchema) -> CheckReport:
    return check_tree(TERRAFORM_DIR, {schema.source: schema for schema in schemas})


def test_every_tf_file_under_terraform_matches_the_provider_schema(
    google_schema: ProviderSchema, github_schema: ProviderSchema
) -> None:
    _assert_tree_clean(_check_all(google_schema, github_schema))


def test_the_lowest_provider_version_admitted_accepts_the_configuration_too(
    google_floor_schema: ProviderSchema, github_schema: ProviderSchema
) -> None:
    assert google_floor_schema.version == "6.14.0"
    _assert_tree_clean(_check_all(google_floor_schema, github_schema))


def test_the_github_root_is_checked_against_the_github_schema(
    google_schema: ProviderSchema, github_schema: ProviderSchema, tmp_path: Path
) -> None:
    """The GitHub side is checked, not skipped: without its schema every block is unchecked,
    and an error planted in a copy of it is reported."""
    github_root = TERRAFORM_DIR / "github"
    blocks = sum(len(_TOP_LEVEL_BLOCK.findall(p.read_text())) for p in github_root.glob("*.tf"))
    assert blocks >= 10
    without = check_tree(github_root, {google_schema.source: google_schema})
    assert len(without.unchecked) == blocks
    assert "providers.tf:4: provider.github (no schema loaded)" in without.unchecked
    assert all(
        "no schema loaded for integrations/github" in u
        for u in without.unchecked
        if "provider.github" not in u
    )
    copy = tmp_path / "github"
    shutil.copytree(github_root, copy)
    rulesets = copy / "rulesets.tf"
    planted = rulesets.read_text().replace("non_fast_forward", "non_fast_forwards", 1)
    rulesets.write_text(planted)
    report = check_tree(copy, {github_schema.source: github_schema})
    assert [(f.kind, f.address) for f in report.findings] == [
        (Kind.UNKNOWN_ARGUMENT, "github_repository_ruleset.protected_branches")
    ]
    assert 'did you mean "non_fast_forward"' in report.findings[0].message
    assert github_schema.version == "6.9.0"


@pytest.mark.parametrize("kind", sorted(PLANTED))
def test_a_planted_error_is_reported_exactly(google_schema: ProviderSchema, kind: str) -> None:
    report = _check(SCHEMA_FIXTURES / kind, google_schema)
    assert report.findings == [PLANTED[kind]]


def test_every_kind_of_finding_has_a_planted_fixture() -> None:
    kinds = {value for name, value in vars(Kind).items() if name.isupper()} - {Kind.SYNTAX}
    fixtures = {path.name for path in SCHEMA_FIXTURES.iterdir()} - {"valid", Kind.SYNTAX}
    assert set(PLANTED) == kinds == fixtures


def test_a_file_that_does_not_parse_is_reported(google_schema: ProviderSchema) -> None:
    report = _check(SCHEMA_FIXTURES / Kind.SYNTAX, google_schema)
    assert [(f.path, f.kind) for f in report.findings] == [("main.tf", Kind.SYNTAX)]
    assert report.findings[0].message.startswith(
        f"{SCHEMA_FIXTURES / Kind.SYNTAX}/main.tf: cannot parse"
    )


def test_what_terraform_accepts_is_not_flagged(google_schema: ProviderSchema) -> None:
    """Meta-arguments, expressions, dynamic blocks, check blocks, "" for an optional enum."""
    report = _check(SCHEMA_FIXTURES / "valid", google_schema)
    assert [str(finding) for finding in report.findings] == []
    assert report.unchecked == [
        "main.tf:37: random_id.suffix (no schema loaded for hashicorp/random)"
    ]
    assert report.checked_blocks == 6


def test_terraform_s_own_lifecycle_and_dynamic_arguments_are_checked(
    google_schema: ProviderSchema, tmp_path: Path
) -> None:
    (tmp_path / "main.tf").write_text(
        'resource "google_pubsub_topic" "events" {\n'
        '  name = "events"\n'
        '  dynamic "schema_settings" {\n'
        "    for_each = []\n"
        "    iterate  = schema\n"
        "    content {\n"
        '      schema = "s"\n'
        "    }\n"
        "  }\n"
        "  lifecycle {\n"
        "    prevent_destroi = true\n"
        "    postcondition {\n"
        "      condition     = true\n"
        '      error_message = "never"\n'
        "    }\n"
        "  }\n"
        "}\n"
    )
    findings = [(f.line, f.kind, f.message) for f in _check(tmp_path, google_schema).findings]
    assert findings == [
        (5, Kind.UNKNOWN_ARGUMENT, 'unknown argument "iterate" in dynamic "schema_settings"'),
        (
            11,
            Kind.UNKNOWN_ARGUMENT,
            'unknown argument "prevent_destroi" in lifecycle (did you mean "prevent_destroy"?)',
        ),
    ]


def test_terraform_names_come_from_the_registry_anchors(google_schema: ProviderSchema) -> None:
    bucket_object = google_schema.resource("google_storage_bucket_object")
    attachment = google_schema.resource("google_compute_interconnect_attachment")
    assert bucket_object is not None
    assert attachment is not None
    assert bucket_object.attributes["detect_md5hash"].mode == "optional"
    assert bucket_object.attributes["md5hash"].read_only
    assert attachment.attributes["vlan_tag8021q"].mode == "optional"
    # Every name came from an anchor or a generated getter; none was guessed.
    assert google_schema.stats.get("names_guessed", 0) == 0
    assert google_schema.stats.get("anchor_script_disagreements", 0) == 0


def test_the_schema_knows_nesting_read_only_attributes_and_enums(
    google_schema: ProviderSchema,
) -> None:
    service = google_schema.resource("google_cloud_run_v2_service")
    project = google_schema.data_source("google_project")
    assert service is not None
    assert project is not None
    template = service.blocks["template"]
    containers = template.block.blocks["containers"]
    assert (template.min_items, template.max_items) == (1, 1)
    assert (containers.min_items, containers.max_items) == (0, None)
    assert containers.block.attributes["image"].mode == "required"
    assert service.attributes["uri"].read_only
    assert service.attributes["ingress"].enum == (
        "INGRESS_TRAFFIC_ALL",
        "INGRESS_TRAFFIC_INTERNAL_ONLY",
        "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
    )
    assert project.attributes["number"].read_only
    assert "project" in google_schema.provider().attributes
    assert (len(google_schema.resource_types()), len(google_schema.data_source_types())) == (
        1096,
        373,
    )


def test_the_command_line_reports_findings_with_file_line_and_address(
    google_schema: ProviderSchema,
) -> None:
    fixture = SCHEMA_FIXTURES / Kind.ENUM
    run = subprocess.run(
        [sys.executable, "-m", "terraform.tools.provider_schema", "check", str(fixture)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert run.returncode == 1, run.stderr
    expected = PLANTED[Kind.ENUM]
    location = fixture.relative_to(REPO) / "main.tf"
    assert f"{location}:4: {_API}: {expected.message}\n" in run.stdout
    assert run.stdout.endswith(
        "1 blocks checked against hashicorp/google 6.50.0, integrations/github 6.9.0: 1 findings\n"
    )
