"""Terraform for an environment root: init with a dependency lock, plan, apply.

Dependency locks. ``terraform init`` picks provider versions and records them, with their
checksums, in the root's ``.terraform.lock.hcl``. Without a committed lock every init picks
the newest release the constraints allow, so a plan made on Monday and an apply made
after Tuesday's provider release disagree, and Terraform refuses the saved plan
("Inconsistent dependency lock file"). So:

- ``plan`` returns the lock its init used beside the plan: commit it as
  ``terraform/environments/<env>/.terraform.lock.hcl``;
- a committed lock is used read-only (``init -lockfile=readonly``): init fails rather than
  pick other providers;
- ``apply`` with a plan installs the lock exported with that plan and initialises
  read-only, so it applies with exactly the providers the plan was reviewed with.
"""

from __future__ import annotations

from typing import Final

import dagger
from dagger import dag

from clarity._caching import every_call
from clarity._errors import ApprovalError, InputError
from clarity._images import TERRAFORM
from clarity._settings import TerraformInputs
from clarity._workspace import OUT, with_credentials, with_empty_directory, with_variables

__all__ = [
    "LOCK_FILE",
    "PLAN_FILE",
    "PLAN_TEXT",
    "apply_plan",
    "apply_saved",
    "apply_without_plan",
    "initialised",
    "plan",
    "plan_outputs",
    "reviewed_lock",
    "unreviewed",
]

LOCK_FILE: Final = ".terraform.lock.hcl"
PLAN_FILE: Final = "tfplan"
PLAN_TEXT: Final = "tfplan.txt"
_ROOTS: Final = "/src/terraform"
_PLUGIN_CACHE: Final = "/root/.terraform.d/plugin-cache"
_REVIEWED: Final = "/plan"


def _root(env: str) -> str:
    return f"{_ROOTS}/environments/{env}"


def _terraform(env: str, *args: str) -> list[str]:
    return ["terraform", f"-chdir={_root(env)}", *args]


async def initialised(
    source: dagger.Directory,
    env: str,
    credentials: dagger.Secret,
    inputs: TerraformInputs,
    *,
    lock: dagger.File | None = None,
) -> dagger.Container:
    """The terraform container with ``env``'s root initialised and its inputs set.

    ``lock`` (the lock a reviewed plan was made with) replaces any committed lock; with a
    lock either way, init keeps it read-only.
    """
    committed = LOCK_FILE in await source.directory(f"terraform/environments/{env}").entries()
    container = (
        dag.container()
        .from_(TERRAFORM.address)
        .with_mounted_cache(_PLUGIN_CACHE, dag.cache_volume("clarity-terraform-plugins"))
        .with_env_variable("TF_PLUGIN_CACHE_DIR", _PLUGIN_CACHE)
        .with_env_variable("TF_IN_AUTOMATION", "1")
        .with_(with_credentials(credentials))
        .with_directory(_ROOTS, source.directory("terraform"))
    )
    init = _terraform(env, "init", "-input=false", "-no-color")
    if lock is not None:
        container = container.with_file(f"{_root(env)}/{LOCK_FILE}", lock)
    if lock is not None or committed:
        init.append("-lockfile=readonly")
    return (
        container.with_exec(init)
        # After init, so new input values do not invalidate the cached init.
        .with_(with_variables(inputs.environment()))
    )


def plan(terraform: dagger.Container, env: str) -> dagger.Container:
    """Plan against the live state into /out: the plan file, its text, the lock it used."""
    return (
        terraform.with_(every_call)
        # Terraform writes the plan file, not the directory it goes in.
        .with_(with_empty_directory(OUT))
        .with_exec(_terraform(env, "plan", "-input=false", "-no-color", f"-out={OUT}/{PLAN_FILE}"))
        .with_exec(
            _terraform(env, "show", "-no-color", f"{OUT}/{PLAN_FILE}"),
            redirect_stdout=f"{OUT}/{PLAN_TEXT}",
        )
    )


def plan_outputs(planned: dagger.Container, env: str) -> dagger.Directory:
    """What ``plan`` returns: tfplan, tfplan.txt and the .terraform.lock.hcl init used."""
    return planned.directory(OUT).with_file(LOCK_FILE, planned.file(f"{_root(env)}/{LOCK_FILE}"))


def apply_saved(planned: dagger.Container, env: str) -> dagger.Container:
    """Apply the plan ``plan`` just wrote, in the same container (same init, same lock)."""
    return planned.with_exec(
        _terraform(env, "apply", "-input=false", "-no-color", f"{OUT}/{PLAN_FILE}")
    )


def unreviewed(env: str) -> ApprovalError:
    """The refusal of an apply without a reviewed plan, with the commands that make one."""
    return ApprovalError(
        f"{env} applies only a reviewed plan: run `dagger call plan --env {env} ... -o plan`, "
        f"review plan/tfplan.txt, then `dagger call apply --env {env} --plan plan ...`"
    )


async def reviewed_lock(reviewed: dagger.Directory) -> dagger.File:
    """The lock exported with a reviewed plan; refuses a directory that is not a plan export."""
    present = set(await reviewed.entries())
    missing = [name for name in (PLAN_FILE, LOCK_FILE) if name not in present]
    if missing:
        msg = (
            f"--plan must be the directory plan exported (tfplan, {LOCK_FILE}); "
            f"{', '.join(missing)} missing: run `dagger call plan ... -o plan` again and "
            "pass --plan plan"
        )
        raise InputError(msg)
    return reviewed.file(LOCK_FILE)


def apply_plan(
    terraform: dagger.Container, env: str, reviewed: dagger.Directory
) -> dagger.Container:
    """Apply the reviewed plan file; ``terraform`` was initialised with its lock."""
    return (
        terraform.with_(every_call)
        .with_directory(_REVIEWED, reviewed)
        .with_exec(
            _terraform(env, "apply", "-input=false", "-no-color", f"{_REVIEWED}/{PLAN_FILE}")
        )
    )


def apply_without_plan(terraform: dagger.Container, env: str) -> dagger.Container:
    """Plan and apply in one step (environments that do not require a reviewed plan)."""
    return terraform.with_(every_call).with_exec(
        _terraform(env, "apply", "-input=false", "-auto-approve", "-no-color")
    )
