"""The module as the SDK registers it, loaded in memory without an engine.

``clarity`` is imported exactly as the runtime imports it; the SDK's ``@object_type``,
``@function``, ``@check`` and ``@enum_type`` record everything in its ``Module``
builder, which is what these tests read. ``to_typedef`` is the SDK's own conversion to
API type definitions: a type it cannot express fails here, as it would at registration.
"""

from __future__ import annotations

import enum
import inspect
import json
from typing import Any

import clarity
import dagger
import pytest
from clarity._settings import ENVIRONMENTS
from clarity._source import RELEASE_IGNORE, SOURCE_IGNORE
from clarity.main import Clarity, Environment
from dagger.mod import default_module
from dagger.mod._converter import to_typedef
from dagger.mod._resolver import Function, ObjectType
from dagger.mod._utils import get_parent_module_doc

pytestmark = pytest.mark.dagger

NEVER = "never"
TERRAFORM_INPUTS: list[tuple[str, Any, str | None]] = [
    ("billing_account", str, '""'),
    ("alert_email", str, '""'),
]
GITHUB_SIGNING: list[tuple[str, Any, str | None]] = [
    ("oidc_request_token", dagger.Secret | None, "null"),
    ("oidc_request_url", dagger.Secret | None, "null"),
]
EXPECTED_SIGNER: list[tuple[str, Any, str | None]] = [
    ("signer_repository", str | None, "null"),
    ("public_key", dagger.File | None, "null"),
]

# name -> (arguments as (API name, type, default JSON or None if required), cache, check)
EXPECTED: dict[str, tuple[list[tuple[str, Any, str | None]], str | None, bool]] = {
    "lint": ([], None, True),
    "typecheck": ([], None, True),
    "test": ([], None, True),
    "test_report": ([], None, False),
    "security": ([], None, True),
    "security_report": ([], "session", False),
    "ci": ([], None, False),
    "dast": (
        [("urls", list[str] | None, "null"), ("token", dagger.Secret | None, "null")],
        NEVER,
        False,
    ),
    "e2e": (
        [
            ("env", Environment, None),
            ("url", str, None),
            ("token", dagger.Secret, None),
            ("expect_version", str | None, "null"),
        ],
        NEVER,
        False,
    ),
    "build": ([], None, False),
    "scan": ([], "session", False),
    "scan_report": ([], "session", False),
    "sbom": ([], None, False),
    "publish": (
        [
            ("env", Environment, None),
            ("credentials", dagger.Secret, None),
            ("version", str | None, "null"),
        ],
        NEVER,
        False,
    ),
    "sign": (
        [
            ("env", Environment, None),
            ("credentials", dagger.Secret, None),
            ("references", list[str], None),
            ("key", dagger.Secret | None, "null"),
            ("key_password", dagger.Secret | None, "null"),
            ("identity_token", dagger.Secret | None, "null"),
            *GITHUB_SIGNING,
        ],
        NEVER,
        False,
    ),
    "promote": (
        [
            ("from", Environment, None),
            ("to", Environment, None),
            ("version", str, None),
            ("commit", str, None),
            ("credentials", dagger.Secret, None),
            *EXPECTED_SIGNER,
        ],
        NEVER,
        False,
    ),
    "plan": (
        [("env", Environment, None), ("credentials", dagger.Secret, None), *TERRAFORM_INPUTS],
        NEVER,
        False,
    ),
    "apply": (
        [
            ("env", Environment, None),
            ("credentials", dagger.Secret, None),
            ("plan", dagger.Directory | None, "null"),
            *TERRAFORM_INPUTS,
        ],
        NEVER,
        False,
    ),
    "deploy": (
        [
            ("env", Environment, None),
            ("credentials", dagger.Secret | None, "null"),
            ("version", str | None, "null"),
            ("commit", str | None, "null"),
            ("approve", bool, "false"),
            ("dry_run", bool, "false"),
            *TERRAFORM_INPUTS,
            ("key", dagger.Secret | None, "null"),
            ("key_password", dagger.Secret | None, "null"),
            *GITHUB_SIGNING,
            *EXPECTED_SIGNER,
        ],
        NEVER,
        False,
    ),
    "rollback": (
        [
            ("env", Environment, None),
            ("to", str, None),
            ("credentials", dagger.Secret | None, "null"),
        ],
        NEVER,
        False,
    ),
    "health": (
        [("env", Environment, None), ("credentials", dagger.Secret | None, "null")],
        NEVER,
        False,
    ),
    "release": (
        [
            ("repository", dagger.Directory, None),
            ("dry_run", bool, "false"),
            ("token", dagger.Secret | None, "null"),
        ],
        NEVER,
        False,
    ),
}
RETURNS = {
    "test_report": dagger.Directory,
    "security_report": dagger.Directory,
    "scan_report": dagger.Directory,
    "build": list[dagger.Container],
    "sbom": dagger.Directory,
    "publish": list[str],
    "plan": dagger.Directory,
}


@pytest.fixture(scope="module")
def main_object() -> ObjectType[Any]:
    module = default_module()
    assert clarity.Clarity.__dagger_module__ is module  # type: ignore[attr-defined]
    obj: ObjectType[Any] = module.get_object("Clarity")
    return obj


@pytest.fixture(scope="module")
def functions(main_object: ObjectType[Any]) -> dict[str, Function[Any, Any]]:
    return {name: fn for name, fn in main_object.functions.items() if name}


def test_public_functions_are_exactly_the_pipeline_stages(
    functions: dict[str, Function[Any, Any]],
) -> None:
    assert sorted(functions) == sorted(EXPECTED)
    cli = sorted(name.replace("_", "-") for name in functions)
    assert cli == sorted(
        [
            "lint",
            "typecheck",
            "test",
            "test-report",
            "security",
            "security-report",
            "ci",
            "dast",
            "e2e",
            "build",
            "scan",
            "scan-report",
            "sbom",
            "publish",
            "sign",
            "promote",
            "plan",
            "apply",
            "deploy",
            "rollback",
            "health",
            "release",
        ]
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_arguments_types_and_defaults(name: str, functions: dict[str, Function[Any, Any]]) -> None:
    expected_args, _, _ = EXPECTED[name]
    params = list(functions[name].parameters.values())
    actual = [
        (p.name, p.resolved_type, None if p.default_value is None else str(p.default_value))
        for p in params
    ]
    assert actual == expected_args
    for param in params:
        required = param.default_value is None and param.default_path is None
        assert param.is_optional is not required


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cache_policy_and_check_mark(name: str, functions: dict[str, Function[Any, Any]]) -> None:
    _, cache, is_check = EXPECTED[name]
    assert functions[name].cache_policy == cache
    assert functions[name].check is is_check


def test_checks_take_no_required_argument(functions: dict[str, Function[Any, Any]]) -> None:
    checks = {name for name, fn in functions.items() if fn.check}
    assert checks == {"lint", "typecheck", "test", "security"}
    for name in checks:
        assert all(p.is_optional for p in functions[name].parameters.values())


def test_side_effects_are_never_cached(functions: dict[str, Function[Any, Any]]) -> None:
    side_effects = {"publish", "sign", "promote", "apply", "deploy", "rollback", "dast", "e2e"}
    assert {n for n, fn in functions.items() if fn.cache_policy == NEVER} >= side_effects


def test_each_gate_that_a_workflow_uploads_from_has_a_report_companion(
    functions: dict[str, Function[Any, Any]],
) -> None:
    """A check returns pass/fail text; its companion returns the files, whatever they say."""
    for gate, report in (("test", "test_report"), ("security", "security_report")):
        assert functions[gate].check
        assert functions[gate].return_type is str
        assert not functions[report].check
        assert functions[report].return_type is dagger.Directory
    # Vulnerability databases change daily: reports of live reads are reused only per session.
    for name in ("scan", "scan_report", "security_report"):
        assert functions[name].cache_policy == "session", name


def test_every_function_and_argument_is_documented_in_one_line(
    main_object: ObjectType[Any], functions: dict[str, Function[Any, Any]]
) -> None:
    for name, fn in functions.items():
        assert fn.doc, f"{name} has no docstring"
        assert "\n" not in fn.doc.strip(), f"{name}: docstring must be one line"
        for param in fn.parameters.values():
            assert param.doc, f"{name}: argument {param.name} has no Doc()"
    constructor = main_object.get_constructor()
    assert [p.doc for p in constructor.parameters.values()] == [
        "The repository checkout (defaults to the repository root, without caches)."
    ]
    assert main_object.cls.__doc__


@pytest.mark.parametrize("name", ["plan", "apply", "deploy"])
def test_terraform_inputs_have_kebab_case_flags_and_their_own_docs(
    name: str, functions: dict[str, Function[Any, Any]]
) -> None:
    params = functions[name].parameters
    flags = {p.name.replace("_", "-"): p for p in params.values()}
    billing, alert = flags["billing-account"], flags["alert-email"]
    assert billing.doc is not None
    assert "billing_account" in billing.doc
    assert "012345-6789AB-CDEF01" in billing.doc
    assert alert.doc is not None
    assert "alert_notification_email" in alert.doc
    assert "monitoring" in alert.doc
    assert billing.is_optional
    assert alert.is_optional


def test_return_types(functions: dict[str, Function[Any, Any]]) -> None:
    for name, fn in functions.items():
        assert fn.return_type == RETURNS.get(name, str), name


def test_types_convert_to_api_typedefs(
    main_object: ObjectType[Any], functions: dict[str, Function[Any, Any]]
) -> None:
    constructor = main_object.get_constructor()
    for fn in [constructor, *functions.values()]:
        to_typedef(fn.return_type)
        for param in fn.parameters.values():
            to_typedef(param.resolved_type)


def test_sources_default_to_the_repository_root_without_caches(
    main_object: ObjectType[Any], functions: dict[str, Function[Any, Any]]
) -> None:
    (source,) = main_object.get_constructor().parameters.values()
    assert source.name == "source"
    assert source.resolved_type is dagger.Directory
    assert source.default_path == "/"
    assert source.ignore == SOURCE_IGNORE
    assert {".git", "**/.venv", "ci/sdk", "**/.terraform"} <= set(SOURCE_IGNORE)
    repository = functions["release"].parameters["repository"]
    assert repository.default_path == "/"
    assert repository.ignore == RELEASE_IGNORE
    assert ".git" not in RELEASE_IGNORE


def test_environment_enum_members_and_docs() -> None:
    module = default_module()
    assert module._enums == {"Environment": Environment}
    assert [(m.name, m.value) for m in Environment] == [
        ("dev", "dev"),
        ("staging", "staging"),
        ("prod", "prod"),
    ]
    assert issubclass(Environment, enum.Enum)
    source = inspect.getsource(Environment)
    for member in Environment:
        assert f'{member.name} = "{member.value}"\n    """' in source, member


def test_environment_matches_the_settings_directories() -> None:
    assert tuple(m.value for m in Environment) == ENVIRONMENTS


def test_enum_default_values_serialize_like_the_engine_expects() -> None:
    # A default for an enum argument is sent as its member name in JSON.
    converter = default_module()._converter
    assert json.loads(converter.dumps(Environment.prod)) == "prod"


def test_module_description_comes_from_the_package_docstring() -> None:
    assert get_parent_module_doc(Clarity) == clarity.__doc__
