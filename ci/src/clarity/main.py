"""The ``Clarity`` object: every pipeline stage as a containerized Dagger function.

Each function reads like a recipe: validate the inputs (plain Python in ``_settings`` and
``_provenance``), then compose the containers the private modules beside this one build, by
concern: ``_workspace`` (the Python toolchain, emulators, credentials), ``_gate_runs``
(gates), ``_scans`` (images, trivy), ``_publishing`` (registry, cosign), ``_promotion``
(staging's record, verification, the copy by digest), ``_terraform`` (init with a
dependency lock, plan, apply), ``_delivery`` (clarity-deploy), ``_releases`` (what deploy
runs) and ``_caching`` (what the engine may reuse). The image functions (build, scan,
sbom, publish, sign, promote) live in ``_image_functions``, which ``Clarity`` inherits.
"""

from typing import Annotated

import dagger
from dagger import DefaultPath, Doc, Ignore, ReturnType, check, function, object_type

from clarity import _terraform as terraform
from clarity._arguments import (
    AlertEmail,
    BillingAccount,
    Credentials,
    Environment,
    OidcRequestToken,
    OidcRequestUrl,
    PublicKey,
    SignerRepository,
    SigningKey,
    SigningKeyPassword,
    TerraformCredentials,
)
from clarity._caching import every_call, never_cached, session_cached
from clarity._dast import LOCAL_TARGETS, local_stack, run_dast, validate_targets
from clarity._delivery import require_commit, require_credentials, run_delivery
from clarity._e2e import run_e2e, validate_base_url
from clarity._errors import InputError
from clarity._gate_runs import check as check_gates
from clarity._gate_runs import run_gate
from clarity._gates import GATE_NAMES, GATES
from clarity._image_functions import ImageFunctions
from clarity._inputs import environment_settings, release_version, terraform_variables
from clarity._provenance import PROMOTED_FROM, check_identity_arguments, expected_signer
from clarity._publishing import deploy_signing, github_request
from clarity._releases import Release, deploy_built, deploy_promoted
from clarity._report import summarize
from clarity._scans import image
from clarity._settings import (
    PROTECTED_ENVIRONMENTS,
    SERVICES,
    deploy_stages,
    validate_rollback_target,
    validate_version,
)
from clarity._source import RELEASE_IGNORE, SOURCE_IGNORE
from clarity._workspace import (
    REPORTS,
    WORKDIR,
    emulator_services,
    services_started,
    with_emulators,
    workspace,
)

__all__ = ["Clarity", "Environment"]


@object_type
class Clarity(ImageFunctions):
    """Quality gates, images, infrastructure and rollouts of the Clarity Loop Backend."""

    source: Annotated[
        dagger.Directory,
        DefaultPath("/"),
        Ignore(SOURCE_IGNORE),
        Doc("The repository checkout (defaults to the repository root, without caches)."),
    ]

    # ------------------------------------------------------------------ gates

    @function
    @check
    async def lint(self) -> str:
        """Check formatting and lint rules (ruff format --check, ruff check)."""
        return await check_gates(self.source, [GATES["lint"]])

    @function
    @check
    async def typecheck(self) -> str:
        """Type-check src/, ci/src/ and tests/ with mypy in strict mode."""
        return await check_gates(self.source, [GATES["typecheck"]])

    @function
    @check
    async def test(self) -> str:
        """Run pytest with the coverage gate against Firestore and Pub/Sub emulator services."""
        return await check_gates(self.source, [GATES["test"]])

    @function
    async def test_report(self) -> dagger.Directory:
        """Run the tests and return reports/ (JUnit XML, coverage XML), even if tests fail."""
        (step,) = GATES["test"].steps
        runner = with_emulators(workspace(self.source))
        ran = runner.with_exec(list(step.command(pipeline=True)), expect=ReturnType.ANY)
        return ran.directory(f"{WORKDIR}/reports")

    @function
    @check
    async def security(self) -> str:
        """Security checks: bandit, secrets, pip-audit, checkov, zizmor, actionlint, hadolint..."""
        return await check_gates(self.source, [GATES["security"]])

    @session_cached
    async def security_report(self) -> dagger.Directory:
        """Run the security tools for reports (SARIF, JSON, logs, summary.txt), even on findings."""
        gate = GATES["security"]
        entries = await self.source.glob("**/*")
        results, runner = await run_gate(self.source, gate, entries, reports=True)
        summary = summarize(results, [(gate.name, step.name) for step in gate.steps])
        return runner.directory(REPORTS).with_new_file("summary.txt", summary.render())

    @function
    async def ci(self) -> str:
        """Run every gate concurrently and report all failures in one summary."""
        return await check_gates(self.source, [GATES[name] for name in GATE_NAMES])

    @never_cached
    async def dast(
        self,
        urls: Annotated[
            list[str] | None,
            Doc("Deployed base URLs (https) to test instead, e.g. a staging candidate's tag URL."),
        ] = None,
        token: Annotated[
            dagger.Secret | None,
            Doc("ID token sent as Authorization: Bearer to --urls (required with them)."),
        ] = None,
    ) -> str:
        """Run schemathesis (every check, negative data) against both services; fail on any finding."""
        runner = workspace(self.source)
        if not urls:
            images = {service: image(self.source, service) for service in SERVICES}
            # The topics made first, and what the gateway's run stores, outlive each exec.
            async with services_started(emulator_services().values()):
                return await run_dast(local_stack(runner, images), LOCAL_TARGETS)
        if token is None:
            msg = "dast --urls needs --token: an ID token for them, e.g. --token env://ID_TOKEN"
            raise InputError(msg)
        targets = {url: url for url in validate_targets(urls)}
        return await run_dast(runner, targets, token=token)

    @never_cached
    async def e2e(
        self,
        *,
        env: Annotated[
            Environment, Doc("Environment tested; its settings bound the wait for an insight.")
        ],
        url: Annotated[
            str,
            Doc("The API gateway's base URL (https): the environment's, or a candidate's tag URL."),
        ],
        token: Annotated[
            dagger.Secret, Doc("ID token for the gateway (audience: its URL), e.g. env://ID_TOKEN.")
        ],
        expect_version: Annotated[
            str | None, Doc("Fail unless the gateway reports this version on /health.")
        ] = None,
    ) -> str:
        """Run the user's journey (tests/e2e) against a deployed gateway; fail if a step fails."""
        settings = await environment_settings(self.source, env.value)
        target = validate_base_url(url)
        version = None if expect_version is None else validate_version(expect_version)
        return await run_e2e(
            workspace(self.source),
            target,
            token,
            environment=env.value,
            timeout_seconds=settings.delivery.rollout.journey.timeout_seconds,
            expect_version=version,
        )

    # ------------------------------------------------------------------ infrastructure

    @never_cached
    async def plan(
        self,
        *,
        env: Annotated[Environment, Doc("Environment to plan.")],
        credentials: TerraformCredentials,
        billing_account: BillingAccount = "",
        alert_email: AlertEmail = "",
    ) -> dagger.Directory:
        """Run terraform plan; return tfplan, tfplan.txt and the .terraform.lock.hcl it used."""
        settings = await environment_settings(self.source, env.value)
        inputs = terraform_variables(settings, billing_account, alert_email, "plan")
        initialised = await terraform.initialised(self.source, env.value, credentials, inputs)
        return terraform.plan_outputs(terraform.plan(initialised, env.value), env.value)

    @never_cached
    async def apply(
        self,
        *,
        env: Annotated[Environment, Doc("Environment to change.")],
        credentials: TerraformCredentials,
        plan: Annotated[
            dagger.Directory | None,
            Doc("Directory plan exported (tfplan, .terraform.lock.hcl); required for prod."),
        ] = None,
        billing_account: BillingAccount = "",
        alert_email: AlertEmail = "",
    ) -> str:
        """Apply Terraform for an environment: a reviewed plan with its lock, or a fresh plan."""
        settings = await environment_settings(self.source, env.value)
        inputs = terraform_variables(settings, billing_account, alert_email, "apply")
        if plan is None:
            if env.value in PROTECTED_ENVIRONMENTS:
                raise terraform.unreviewed(env.value)
            initialised = await terraform.initialised(self.source, env.value, credentials, inputs)
            return await terraform.apply_without_plan(initialised, env.value).stdout()
        lock = await terraform.reviewed_lock(plan)
        initialised = await terraform.initialised(
            self.source, env.value, credentials, inputs, lock=lock
        )
        return await terraform.apply_plan(initialised, env.value, plan).stdout()

    # ------------------------------------------------------------------ delivery

    @never_cached
    async def deploy(
        self,
        *,
        env: Annotated[Environment, Doc("Environment to deploy to: dev, staging or prod.")],
        credentials: Credentials = None,
        version: Annotated[
            str | None, Doc("Version to release (semantic); defaults to pyproject's version.")
        ] = None,
        commit: Annotated[
            str | None, Doc("Git SHA being deployed (required; recorded in the ledger).")
        ] = None,
        approve: Annotated[
            bool, Doc("Approve a change to a protected environment (prod).")
        ] = False,
        dry_run: Annotated[
            bool, Doc("Build (or verify) and plan, and simulate the rollout; change nothing.")
        ] = False,
        billing_account: BillingAccount = "",
        alert_email: AlertEmail = "",
        key: SigningKey = None,
        key_password: SigningKeyPassword = None,
        oidc_request_token: OidcRequestToken = None,
        oidc_request_url: OidcRequestUrl = None,
        signer_repository: SignerRepository = None,
        public_key: PublicKey = None,
    ) -> str:
        """Release: dev and staging build, publish and sign; prod promotes staging's digests."""
        settings = await environment_settings(self.source, env.value)
        given = {
            "--key": key is not None,
            "--key-password": key_password is not None,
            "--oidc-request-token": oidc_request_token is not None,
            "--oidc-request-url": oidc_request_url is not None,
            "--signer-repository": signer_repository is not None,
            "--public-key": public_key is not None,
        }
        check_identity_arguments(env.value, given)
        origin = PROMOTED_FROM.get(env.value)
        signing = None
        if origin is None:
            github = github_request(oidc_request_token, oidc_request_url)
            signing = deploy_signing(env.value, key, key_password, github, dry_run=dry_run)
        stages = deploy_stages(
            settings, approve=approve, dry_run=dry_run, signs=signing is not None
        )
        release = Release(
            settings=settings,
            # A dry run still plans, and a plan needs every required input variable.
            inputs=terraform_variables(settings, billing_account, alert_email, "deploy"),
            credentials=require_credentials(credentials, "deploy"),
            version=await release_version(self.source, version),
            commit=require_commit(commit, "deploy"),
            stages=stages,
            approve=approve,
        )
        if origin is None:
            return await deploy_built(self.source, release, signing)
        signer = expected_signer(
            origin, repository=signer_repository, public_key=public_key is not None
        )
        return await deploy_promoted(
            self.source, release, from_env=origin, signer=signer, public_key=public_key
        )

    @never_cached
    async def rollback(
        self,
        *,
        env: Annotated[Environment, Doc("Environment to roll back.")],
        to: Annotated[str, Doc("Version to return to, or 'previous'.")],
        credentials: Credentials = None,
    ) -> str:
        """Shift all traffic back to a released version; return the rollback summary."""
        await environment_settings(self.source, env.value)
        target = validate_rollback_target(to)
        secret = require_credentials(credentials, "rollback")
        return await run_delivery(
            self.source, secret, ["rollback", "--env", env.value, "--to", target]
        )

    @never_cached
    async def health(
        self,
        *,
        env: Annotated[Environment, Doc("Environment to check.")],
        credentials: Credentials = None,
    ) -> str:
        """Probe every health endpoint of an environment; fail if one is unhealthy."""
        await environment_settings(self.source, env.value)
        secret = require_credentials(credentials, "health")
        return await run_delivery(self.source, secret, ["health-check", "--env", env.value])

    @never_cached
    async def release(
        self,
        *,
        repository: Annotated[
            dagger.Directory,
            DefaultPath("/"),
            Ignore(RELEASE_IGNORE),
            Doc("The repository with its git history (defaults to the repository root)."),
        ],
        dry_run: Annotated[bool, Doc("Print the release plan without tagging.")] = False,
        token: Annotated[
            dagger.Secret | None, Doc("GitHub token for pushing the tag and the release.")
        ] = None,
    ) -> str:
        """Cut a release: version, changelog and tag (python -m clarity_release)."""
        runner = workspace(repository, system_packages=("git",)).with_exec(
            ["git", "config", "--global", "--add", "safe.directory", WORKDIR]
        )
        if token is not None:
            runner = runner.with_secret_variable("GITHUB_TOKEN", token)
        argv = ["python", "-m", "clarity_release"]
        if dry_run:
            argv.append("--dry-run")
        else:
            # A release commits, tags and pushes: never an earlier call's cached result.
            runner = runner.with_(every_call)
        return await runner.with_exec(argv).stdout()
