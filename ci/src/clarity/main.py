"""The ``Clarity`` object: every pipeline stage as a containerized Dagger function.

Each function reads like a recipe. Decisions (which gates, which stages, which image
address, whether an environment accepts a change, how results aggregate) are plain
Python in the private modules next to this one, unit-tested without an engine.

``# pragma: engine-only`` marks a function whose body runs only inside a Dagger engine (it
builds and awaits containers); coverage reports it apart from the gated plain Python.
"""

import enum
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Final, ParamSpec, TypeVar

import anyio
import dagger
from dagger import (
    DefaultPath,
    Doc,
    Ignore,
    ReturnType,
    check,
    dag,
    enum_type,
    function,
    object_type,
)

from clarity._errors import ApprovalError, GatesFailedError, InputError, RolloutError
from clarity._gates import GATE_NAMES, GATES, IMAGE_SCAN, IMAGE_TARBALL, Gate, Step
from clarity._google import REGISTRY_USERNAME, access_token, docker_config
from clarity._images import COSIGN, EMULATORS, PYTHON, TERRAFORM, TOOL_VERSIONS, TRIVY
from clarity._report import Outcome, StepResult, Summary, sarif_results, summarize, tail
from clarity._settings import (
    PROTECTED_ENVIRONMENTS,
    SERVICES,
    EnvironmentSettings,
    TerraformInputs,
    deploy_stages,
    dockerfile,
    image_address,
    parse_settings,
    pinned_address,
    project_version,
    registry_host,
    service_of,
    settings_path,
    terraform_inputs,
    validate_commit,
    validate_rollback_target,
    validate_version,
)

__all__ = ["Clarity", "Environment"]

SOURCE_IGNORE: Final = [
    ".git",
    "**/.venv",
    ".tools",
    "**/__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".coverage*",
    "**/.terraform",
    "**/*.tfstate*",
    "**/*.egg-info",
    "ci/sdk",
    "reports",
    "build",
    "dist",
    ".ledger",
]
"""Never uploaded to the engine: VCS data, environments, caches, local artefacts."""

RELEASE_IGNORE: Final = [pattern for pattern in SOURCE_IGNORE if pattern != ".git"]
"""Release management needs the git history and tags."""

_VENV: Final = "/opt/venv"
_WORKDIR: Final = "/src"
_REPORTS: Final = "/reports"  # outside the source tree, so no tool scans its own reports
_CREDENTIALS: Final = "/run/secrets/google-credentials.json"
_PLATFORM: Final = dagger.Platform("linux/amd64")
_OWNER_ONLY: Final = 0o400
_COSIGN_USER: Final = "65532"  # the nonroot user of the cosign image
_TERRAFORM_ROOT: Final = "/src/terraform"
_FIRESTORE_PORT: Final = 8080
_PUBSUB_PORT: Final = 8085
_BILLING_ACCOUNT_DOC: Final = (
    "Billing account id for Terraform's billing_account (012345-6789AB-CDEF01); required."
)
_ALERT_EMAIL_DOC: Final = (
    "Alert address for Terraform's alert_notification_email; required where monitoring is on."
)
_ONE_SIGNING_IDENTITY: Final = (
    "pass exactly one of --key (a cosign private key) or --identity-token (keyless signing)"
)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _function_cached(policy: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """``@function(cache=policy)`` with a type.

    dagger-io 0.21.11 accepts ``cache=`` at run time but its typing overloads of
    ``function`` omit the keyword, so a direct call does not type-check under mypy strict.
    """
    decorator: Callable[..., Callable[[Callable[_P, _R]], Callable[_P, _R]]] = function
    return decorator(cache=policy)


never_cached: Final = _function_cached("never")
"""A Dagger function with side effects or live reads: executed on every call."""

session_cached: Final = _function_cached("session")
"""A Dagger function whose result is reused only within one engine session."""


def _with_variables(  # pragma: engine-only
    variables: Mapping[str, str],
) -> Callable[[dagger.Container], dagger.Container]:
    """Set environment variables as values, never through a shell."""

    def apply(container: dagger.Container) -> dagger.Container:
        for name, value in variables.items():
            container = container.with_env_variable(name, value)
        return container

    return apply


@enum_type
class Environment(enum.Enum):
    """A deployment environment: one directory under terraform/environments."""

    # Member names equal their values, so `--env prod` means the same whether the CLI
    # matches enum member names or values.
    dev = "dev"
    """Development: every merge to main."""

    staging = "staging"
    """Staging: release candidates on production-like settings."""

    prod = "prod"
    """Production: refuses changes without --approve."""


@object_type
class Clarity:
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
    async def lint(self) -> str:  # pragma: engine-only
        """Check formatting and lint rules (ruff format --check, ruff check)."""
        return await self._check(GATES["lint"])

    @function
    @check
    async def typecheck(self) -> str:  # pragma: engine-only
        """Type-check src/, ci/src/ and tests/ with mypy in strict mode."""
        return await self._check(GATES["typecheck"])

    @function
    @check
    async def test(self) -> str:  # pragma: engine-only
        """Run pytest with the coverage gate against Firestore and Pub/Sub emulator services."""
        return await self._check(GATES["test"])

    @function
    async def test_report(self) -> dagger.Directory:  # pragma: engine-only
        """Run the tests and return reports/ (JUnit XML, coverage XML), even if tests fail."""
        (step,) = GATES["test"].steps
        runner = self._with_emulators(self._workspace(self.source))
        ran = runner.with_exec(list(step.command(pipeline=True)), expect=ReturnType.ANY)
        return ran.directory(f"{_WORKDIR}/reports")

    @function
    @check
    async def security(self) -> str:  # pragma: engine-only
        """Security checks: bandit, secrets, pip-audit, checkov, zizmor, actionlint, hadolint..."""
        return await self._check(GATES["security"])

    @session_cached
    async def security_report(self) -> dagger.Directory:  # pragma: engine-only
        """Run the security tools for reports (SARIF, JSON, logs, summary.txt), even on findings."""
        gate = GATES["security"]
        results, runner = await self._run_gate(gate, await self.source.glob("**/*"), reports=True)
        summary = summarize(results, [(gate.name, step.name) for step in gate.steps])
        return runner.directory(_REPORTS).with_new_file("summary.txt", summary.render())

    @function
    async def ci(self) -> str:  # pragma: engine-only
        """Run every gate concurrently and report all failures in one summary."""
        summary = await self._run_gates([GATES[name] for name in GATE_NAMES])
        if not summary.ok:
            raise GatesFailedError(summary.render())
        return summary.render()

    # ------------------------------------------------------------------ images

    @function
    async def build(self) -> list[dagger.Container]:  # pragma: engine-only
        """Build the api-gateway and ml-service images (in that order) for linux/amd64."""
        return [self._image(service) for service in SERVICES]

    @session_cached
    async def scan(self) -> str:  # pragma: engine-only
        """Scan each image with trivy; fail on HIGH or CRITICAL vulnerabilities with a fix."""
        summary, _ = await self._scan()
        if not summary.ok:
            raise GatesFailedError(summary.render())
        return summary.render()

    @session_cached
    async def scan_report(self) -> dagger.Directory:  # pragma: engine-only
        """Scan each image with trivy; return <service>.sarif and summary.txt, even on findings."""
        summary, reports = await self._scan(reports=True)
        directory = dag.directory().with_new_file("summary.txt", summary.render())
        for service, report in reports.items():
            directory = directory.with_file(f"{service}.sarif", report)
        return directory

    @function
    async def sbom(self) -> dagger.Directory:  # pragma: engine-only
        """Generate a CycloneDX SBOM per image: <service>.cdx.json."""
        directory = dag.directory()
        for service in SERVICES:
            directory = directory.with_file(f"{service}.cdx.json", self._sbom(service))
        return directory

    @never_cached
    async def publish(  # pragma: engine-only
        self,
        *,
        env: Annotated[
            Environment, Doc("Environment whose Artifact Registry receives the images.")
        ],
        credentials: Annotated[
            dagger.Secret, Doc("Google credentials JSON allowed to push to Artifact Registry.")
        ],
        version: Annotated[
            str | None, Doc("Image tag (semantic version); defaults to pyproject's version.")
        ] = None,
    ) -> list[str]:
        """Push both images to Artifact Registry; return digest-pinned references."""
        settings = await self._settings(env)
        tag = await self._version(version)
        pushed = await self._publish(settings, credentials, tag)
        return [pushed[service] for service in SERVICES]

    @never_cached
    async def sign(  # pragma: engine-only
        self,
        *,
        env: Annotated[Environment, Doc("Environment whose registry holds the images.")],
        credentials: Annotated[
            dagger.Secret, Doc("Google credentials JSON allowed to write to Artifact Registry.")
        ],
        references: Annotated[
            list[str], Doc("Digest-pinned references returned by publish (name@sha256:...).")
        ],
        key: Annotated[
            dagger.Secret | None, Doc("Cosign private key; omit to sign keyless.")
        ] = None,
        key_password: Annotated[
            dagger.Secret | None, Doc("Password of the cosign private key.")
        ] = None,
        identity_token: Annotated[
            dagger.Secret | None,
            Doc("OIDC token of the CI identity (audience sigstore) for keyless signing."),
        ] = None,
    ) -> str:
        """Sign each published digest with cosign and attach its SBOM as an attestation."""
        settings = await self._settings(env)
        pinned = [pinned_address(reference) for reference in references]
        if not pinned:
            msg = "sign needs --references: the digest references printed by publish"
            raise InputError(msg)
        if (key is None) == (identity_token is None):
            raise InputError(_ONE_SIGNING_IDENTITY)
        token = await self._access_token(credentials)
        config = dag.set_secret(
            "clarity-cosign-docker-config", docker_config(registry_host(settings.region), token)
        )
        signer = (
            dag.container()
            .from_(COSIGN.address)
            .with_user(_COSIGN_USER)
            .with_env_variable("DOCKER_CONFIG", "/run/docker")
            .with_mounted_secret(
                "/run/docker/config.json", config, owner=_COSIGN_USER, mode=_OWNER_ONLY
            )
        )
        if key is not None and identity_token is None:
            identity = ["--key", "/run/secrets/cosign.key"]
            signer = signer.with_mounted_secret(
                "/run/secrets/cosign.key", key, owner=_COSIGN_USER, mode=_OWNER_ONLY
            )
            if key_password is not None:
                signer = signer.with_secret_variable("COSIGN_PASSWORD", key_password)
        elif identity_token is not None and key is None:
            identity = ["--identity-token", "/run/secrets/oidc-token"]
            signer = signer.with_mounted_secret(
                "/run/secrets/oidc-token", identity_token, owner=_COSIGN_USER, mode=_OWNER_ONLY
            )
        else:
            raise InputError(_ONE_SIGNING_IDENTITY)
        lines = []
        for reference in pinned:
            service = service_of(reference)
            sbom_path = f"/sbom/{service}.cdx.json"
            done = (
                signer.with_mounted_file(sbom_path, self._sbom(service), owner=_COSIGN_USER)
                .with_exec(["cosign", "sign", "--yes", *identity, reference])
                .with_exec(
                    [
                        "cosign",
                        "attest",
                        "--yes",
                        *identity,
                        "--type",
                        "cyclonedx",
                        "--predicate",
                        sbom_path,
                        reference,
                    ]
                )
            )
            await done.sync()
            lines.append(f"signed and attested {reference}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ infrastructure

    @never_cached
    async def plan(  # pragma: engine-only
        self,
        *,
        env: Annotated[Environment, Doc("Environment to plan.")],
        credentials: Annotated[
            dagger.Secret, Doc("Google credentials JSON for the GCS state backend and APIs.")
        ],
        billing_account: Annotated[str, Doc(_BILLING_ACCOUNT_DOC)] = "",
        alert_email: Annotated[str, Doc(_ALERT_EMAIL_DOC)] = "",
    ) -> dagger.Directory:
        """Run terraform plan; return tfplan (the plan file) and tfplan.txt (readable)."""
        inputs = await self._terraform_inputs(env, billing_account, alert_email, "plan")
        return self._terraform_plan(env, credentials, inputs).directory("/out")

    @never_cached
    async def apply(  # pragma: engine-only
        self,
        *,
        env: Annotated[Environment, Doc("Environment to change.")],
        credentials: Annotated[
            dagger.Secret, Doc("Google credentials JSON for the GCS state backend and APIs.")
        ],
        plan: Annotated[
            dagger.File | None,
            Doc("Plan file from plan (tfplan); required for prod, optional elsewhere."),
        ] = None,
        billing_account: Annotated[str, Doc(_BILLING_ACCOUNT_DOC)] = "",
        alert_email: Annotated[str, Doc(_ALERT_EMAIL_DOC)] = "",
    ) -> str:
        """Apply Terraform for an environment: the given plan file, or a fresh plan."""
        inputs = await self._terraform_inputs(env, billing_account, alert_email, "apply")
        if plan is None and env.value in PROTECTED_ENVIRONMENTS:
            msg = (
                f"{env.value} applies only a reviewed plan: run `dagger call plan --env "
                f"{env.value} ... export --path plan/`, review plan/tfplan.txt, then "
                f"`dagger call apply --env {env.value} --plan plan/tfplan ...`"
            )
            raise ApprovalError(msg)
        terraform = self._terraform(env, credentials, inputs)
        if plan is None:
            applied = terraform.with_exec(
                [*self._chdir(env), "apply", "-input=false", "-auto-approve", "-no-color"]
            )
        else:
            applied = terraform.with_file("/plan/tfplan", plan).with_exec(
                [*self._chdir(env), "apply", "-input=false", "-no-color", "/plan/tfplan"]
            )
        return await applied.stdout()

    # ------------------------------------------------------------------ delivery

    @never_cached
    async def deploy(  # pragma: engine-only
        self,
        *,
        env: Annotated[Environment, Doc("Environment to deploy to: dev, staging or prod.")],
        credentials: Annotated[
            dagger.Secret | None,
            Doc("Google credentials JSON (required; e.g. env:GOOGLE_CREDENTIALS)."),
        ] = None,
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
            bool, Doc("Build, scan and plan, and simulate the rollout; change nothing.")
        ] = False,
        billing_account: Annotated[str, Doc(_BILLING_ACCOUNT_DOC)] = "",
        alert_email: Annotated[str, Doc(_ALERT_EMAIL_DOC)] = "",
    ) -> str:
        """Build, scan, publish, apply infrastructure and roll out; return the summary."""
        settings = await self._settings(env)
        stages = deploy_stages(settings, approve=approve, dry_run=dry_run)
        # A dry run still plans, and a plan needs every required input variable.
        inputs = terraform_inputs(
            settings,
            billing_account=billing_account,
            alert_email=alert_email,
            function_name="deploy",
        )
        secret = self._require_credentials(credentials, "deploy")
        tag = await self._version(version)
        if commit is None:
            msg = "deploy needs --commit: the git SHA being deployed (e.g. $(git rev-parse HEAD))"
            raise InputError(msg)
        sha = validate_commit(commit)
        scanned, _ = await self._scan()
        if not scanned.ok:
            raise GatesFailedError(scanned.render())
        if "publish" in stages:
            images = await self._publish(settings, secret, tag)
            # The approved change applies exactly the plan computed in this run.
            await (
                self._terraform_plan(env, secret, inputs)
                .with_exec([*self._chdir(env), "apply", "-input=false", "-no-color", "/out/tfplan"])
                .sync()
            )
        else:
            images = {service: image_address(settings, service, tag) for service in SERVICES}
            await self._terraform_plan(env, secret, inputs).sync()
        argv = ["deploy", "--env", env.value, "--version", tag, "--commit", sha]
        for service in SERVICES:
            argv += ["--image", f"{service}={images[service]}"]
        argv += ["--ledger", "/out/ledger.jsonl", "--summary", "/out/summary.md"]
        if approve:
            argv.append("--approve")
        if dry_run:
            argv.append("--dry-run")
        return await self._delivery(secret, argv, summary="/out/summary.md")

    @never_cached
    async def rollback(  # pragma: engine-only
        self,
        *,
        env: Annotated[Environment, Doc("Environment to roll back.")],
        to: Annotated[str, Doc("Version to return to, or 'previous'.")],
        credentials: Annotated[
            dagger.Secret | None, Doc("Google credentials JSON (required).")
        ] = None,
    ) -> str:
        """Shift all traffic back to a released version; return the rollback summary."""
        await self._settings(env)
        target = validate_rollback_target(to)
        secret = self._require_credentials(credentials, "rollback")
        return await self._delivery(secret, ["rollback", "--env", env.value, "--to", target])

    @never_cached
    async def health(  # pragma: engine-only
        self,
        *,
        env: Annotated[Environment, Doc("Environment to check.")],
        credentials: Annotated[
            dagger.Secret | None, Doc("Google credentials JSON (required).")
        ] = None,
    ) -> str:
        """Probe every health endpoint of an environment; fail if one is unhealthy."""
        await self._settings(env)
        secret = self._require_credentials(credentials, "health")
        return await self._delivery(secret, ["health-check", "--env", env.value])

    @never_cached
    async def release(  # pragma: engine-only
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
        runner = self._workspace(repository, system_packages=("git",)).with_exec(
            ["git", "config", "--global", "--add", "safe.directory", _WORKDIR]
        )
        if token is not None:
            runner = runner.with_secret_variable("GITHUB_TOKEN", token)
        argv = ["python", "-m", "clarity_release"]
        if dry_run:
            argv.append("--dry-run")
        return await runner.with_exec(argv).stdout()

    # ------------------------------------------------------------------ helpers

    def _workspace(  # pragma: engine-only
        self, source: dagger.Directory, *, system_packages: Sequence[str] = ()
    ) -> dagger.Container:
        """Python with uv, the locked dependencies (cached) and the source at /src."""
        base = dag.container(platform=_PLATFORM).from_(PYTHON.address)
        if system_packages:
            base = base.with_exec(["apt-get", "update", "-qq"]).with_exec(
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *system_packages]
            )
        return (
            base.with_env_variable("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .with_mounted_cache("/root/.cache/pip", dag.cache_volume("clarity-pip"))
            .with_exec(["pip", "install", "--quiet", f"uv=={TOOL_VERSIONS['uv']}"])
            .with_mounted_cache("/root/.cache/uv", dag.cache_volume("clarity-uv"))
            .with_env_variable("UV_LINK_MODE", "copy")
            .with_env_variable("UV_PYTHON_DOWNLOADS", "never")
            .with_env_variable("UV_PROJECT_ENVIRONMENT", _VENV)
            .with_env_variable("PATH", f"{_VENV}/bin:${{PATH}}", expand=True)
            .with_workdir(_WORKDIR)
            .with_file(f"{_WORKDIR}/pyproject.toml", source.file("pyproject.toml"))
            .with_file(f"{_WORKDIR}/uv.lock", source.file("uv.lock"))
            .with_exec(["uv", "sync", "--locked", "--no-install-project"])
            .with_directory(_WORKDIR, source)
            .with_exec(["uv", "sync", "--locked"])
        )

    def _with_emulators(  # pragma: engine-only
        self, container: dagger.Container
    ) -> dagger.Container:
        emulators = dag.container(platform=_PLATFORM).from_(EMULATORS.address)
        firestore = emulators.with_exposed_port(_FIRESTORE_PORT).as_service(
            args=[
                "gcloud",
                "emulators",
                "firestore",
                "start",
                f"--host-port=0.0.0.0:{_FIRESTORE_PORT}",
            ]
        )
        pubsub = emulators.with_exposed_port(_PUBSUB_PORT).as_service(
            args=[
                "gcloud",
                "beta",
                "emulators",
                "pubsub",
                "start",
                f"--host-port=0.0.0.0:{_PUBSUB_PORT}",
            ]
        )
        return (
            container.with_service_binding("firestore", firestore)
            .with_env_variable("FIRESTORE_EMULATOR_HOST", f"firestore:{_FIRESTORE_PORT}")
            .with_service_binding("pubsub", pubsub)
            .with_env_variable("PUBSUB_EMULATOR_HOST", f"pubsub:{_PUBSUB_PORT}")
        )

    async def _check(self, gate: Gate) -> str:  # pragma: engine-only
        summary = await self._run_gates([gate])
        if not summary.ok:
            raise GatesFailedError(summary.render())
        return summary.render()

    async def _run_gates(self, gates: Sequence[Gate]) -> Summary:  # pragma: engine-only
        entries = await self.source.glob("**/*")
        results: list[StepResult] = []

        async def run(gate: Gate) -> None:
            try:
                ran, _ = await self._run_gate(gate, entries)
                results.extend(ran)
            except dagger.QueryError as exc:
                # The gate's container could not even be prepared (e.g. uv sync failed).
                results.append(
                    StepResult(
                        gate=gate.name, step="setup", outcome=Outcome.FAILED, detail=str(exc)
                    )
                )

        async with anyio.create_task_group() as group:
            for gate in gates:
                group.start_soon(run, gate)
        return summarize(results, [(g.name, s.name) for g in gates for s in g.steps])

    async def _run_gate(  # pragma: engine-only
        self, gate: Gate, entries: Sequence[str], *, reports: bool = False
    ) -> tuple[list[StepResult], dagger.Container]:
        """Run a gate's steps in one container; return their results and that container.

        With ``reports``, every step that runs leaves a file in /reports: its
        machine-readable report if it has one, else its console output (<step>.txt).
        """
        runner = self._workspace(self.source)
        if gate.name == "test":
            runner = self._with_emulators(runner)
        if reports:
            runner = runner.with_directory(_REPORTS, dag.directory())
        present = set(entries)
        results = []
        for step in gate.steps:
            if not step.pipeline:
                results.append(StepResult(gate=gate.name, step=step.name, outcome=Outcome.SKIPPED))
                continue
            missing = [path for path in step.requires if path not in present]
            if missing:
                results.append(
                    StepResult(
                        gate=gate.name,
                        step=step.name,
                        outcome=Outcome.NOTHING_TO_CHECK,
                        detail=f"{', '.join(missing)} not present",
                    )
                )
                continue
            files: Sequence[str] = ()
            if step.files is not None:
                files = step.files.select(entries)
                if not files:
                    results.append(
                        StepResult(
                            gate=gate.name,
                            step=step.name,
                            outcome=Outcome.NOTHING_TO_CHECK,
                            detail=f"no files match {step.files.describe()}",
                        )
                    )
                    continue
            report = step.report if reports else None
            if report is not None:
                runner = self._exec_for_report(runner, step, files)
            else:
                runner = runner.with_exec(
                    list(step.command(files, pipeline=True)), expect=ReturnType.ANY
                )
            output = await runner.combined_output()
            exit_code = await runner.exit_code()
            # A tool that exits 0 whatever it found: its report tells.
            if report is not None and not report.exit_status and exit_code == 0:
                findings = await runner.file(f"{_REPORTS}/{report.file}").contents()
                results.append(
                    StepResult.from_report(
                        gate=gate.name,
                        step=step.name,
                        exit_code=exit_code,
                        output=output,
                        findings=sarif_results(findings),
                        report=report.file,
                    )
                )
            else:
                results.append(
                    StepResult.from_exit(
                        gate=gate.name, step=step.name, exit_code=exit_code, output=output
                    )
                )
            if reports and report is None:
                log = f"{_REPORTS}/{step.name.replace(' ', '-')}.txt"
                runner = runner.with_new_file(log, output)
        return results, runner

    @staticmethod
    def _exec_for_report(  # pragma: engine-only
        container: dagger.Container, step: Step, files: Sequence[str] = ()
    ) -> dagger.Container:
        """Run a step's report variant: its report lands in /reports, whatever it found."""
        if step.report is None:
            msg = f"step {step.name!r} has no report variant"
            raise ValueError(msg)
        path = f"{_REPORTS}/{step.report.file}"
        return container.with_exec(
            list(step.report_command(files, path=path, pipeline=True)),
            expect=ReturnType.ANY,
            redirect_stdout=path if step.report.stdout else "",
        )

    def _image(self, service: str) -> dagger.Container:  # pragma: engine-only
        return self.source.docker_build(dockerfile=dockerfile(service), platform=_PLATFORM)

    def _trivy(self, service: str) -> dagger.Container:  # pragma: engine-only
        return (
            dag.container()
            .from_(TRIVY.address)
            .with_mounted_cache("/root/.cache/trivy", dag.cache_volume("clarity-trivy-db"))
            .with_env_variable("TRIVY_CACHE_DIR", "/root/.cache/trivy")
            .with_env_variable("TRIVY_NO_PROGRESS", "true")
            .with_file(IMAGE_TARBALL, self._image(service).as_tarball())
        )

    async def _scan(  # pragma: engine-only
        self, *, reports: bool = False
    ) -> tuple[Summary, dict[str, dagger.File]]:
        """Scan every image; with ``reports``, also return each image's SARIF report."""
        results: list[StepResult] = []
        sarif: dict[str, dagger.File] = {}

        async def scan(service: str) -> None:
            trivy = self._trivy(service)
            if reports:
                scanned = self._exec_for_report(
                    trivy.with_directory(_REPORTS, dag.directory()), IMAGE_SCAN
                )
            else:
                scanned = trivy.with_exec(
                    list(IMAGE_SCAN.command(pipeline=True)), expect=ReturnType.ANY
                )
            results.append(
                StepResult.from_exit(
                    gate="scan",
                    step=service,
                    exit_code=await scanned.exit_code(),
                    output=await scanned.combined_output(),
                )
            )
            if reports and IMAGE_SCAN.report is not None:
                written = await scanned.directory(_REPORTS).entries()
                if IMAGE_SCAN.report.file in written:
                    sarif[service] = scanned.file(f"{_REPORTS}/{IMAGE_SCAN.report.file}")

        async with anyio.create_task_group() as group:
            for service in SERVICES:
                group.start_soon(scan, service)
        return summarize(results, [("scan", service) for service in SERVICES]), sarif

    def _sbom(self, service: str) -> dagger.File:  # pragma: engine-only
        output = f"/out/{service}.cdx.json"
        return (
            self._trivy(service)
            .with_exec(
                [
                    "trivy",
                    "image",
                    "--input",
                    IMAGE_TARBALL,
                    "--format",
                    "cyclonedx",
                    "--output",
                    output,
                ]
            )
            .file(output)
        )

    async def _settings(self, env: Environment) -> EnvironmentSettings:  # pragma: engine-only
        text = await self.source.file(settings_path(env.value)).contents()
        return parse_settings(env.value, text)

    async def _terraform_inputs(  # pragma: engine-only
        self, env: Environment, billing_account: str, alert_email: str, function_name: str
    ) -> TerraformInputs:
        return terraform_inputs(
            await self._settings(env),
            billing_account=billing_account,
            alert_email=alert_email,
            function_name=function_name,
        )

    async def _version(self, version: str | None) -> str:  # pragma: engine-only
        if version is not None:
            return validate_version(version)
        return project_version(await self.source.file("pyproject.toml").contents())

    async def _access_token(self, credentials: dagger.Secret) -> str:  # pragma: engine-only
        plaintext = await credentials.plaintext()
        return await anyio.to_thread.run_sync(lambda: access_token(plaintext))

    async def _publish(  # pragma: engine-only
        self, settings: EnvironmentSettings, credentials: dagger.Secret, version: str
    ) -> dict[str, str]:
        token = dag.set_secret("clarity-registry-token", await self._access_token(credentials))
        pushed: dict[str, str] = {}

        async def push(service: str) -> None:
            address = image_address(settings, service, version)
            published = await (
                self._image(service)
                .with_registry_auth(address, REGISTRY_USERNAME, token)
                .publish(address)
            )
            pushed[service] = pinned_address(published)

        async with anyio.create_task_group() as group:
            for service in SERVICES:
                group.start_soon(push, service)
        return pushed

    @staticmethod
    def _require_credentials(
        credentials: dagger.Secret | None, function_name: str
    ) -> dagger.Secret:
        if credentials is None:
            msg = (
                f"{function_name} needs --credentials: a Secret holding Google credentials "
                "JSON, e.g. --credentials env:GOOGLE_CREDENTIALS or --credentials file:./key.json"
            )
            raise InputError(msg)
        return credentials

    @staticmethod
    def _chdir(env: Environment) -> list[str]:
        return ["terraform", f"-chdir={_TERRAFORM_ROOT}/environments/{env.value}"]

    def _terraform(  # pragma: engine-only
        self, env: Environment, credentials: dagger.Secret, inputs: TerraformInputs
    ) -> dagger.Container:
        return (
            dag.container()
            .from_(TERRAFORM.address)
            .with_mounted_cache(
                "/root/.terraform.d/plugin-cache", dag.cache_volume("clarity-terraform-plugins")
            )
            .with_env_variable("TF_PLUGIN_CACHE_DIR", "/root/.terraform.d/plugin-cache")
            .with_env_variable("TF_IN_AUTOMATION", "1")
            .with_mounted_secret(_CREDENTIALS, credentials, mode=_OWNER_ONLY)
            .with_env_variable("GOOGLE_APPLICATION_CREDENTIALS", _CREDENTIALS)
            .with_directory(_TERRAFORM_ROOT, self.source.directory("terraform"))
            .with_exec([*self._chdir(env), "init", "-input=false", "-no-color"])
            # After init, so new input values do not invalidate the cached init.
            .with_(_with_variables(inputs.environment()))
        )

    def _terraform_plan(  # pragma: engine-only
        self, env: Environment, credentials: dagger.Secret, inputs: TerraformInputs
    ) -> dagger.Container:
        return (
            self._terraform(env, credentials, inputs)
            .with_exec([*self._chdir(env), "plan", "-input=false", "-no-color", "-out=/out/tfplan"])
            .with_exec(
                [*self._chdir(env), "show", "-no-color", "/out/tfplan"],
                redirect_stdout="/out/tfplan.txt",
            )
        )

    async def _delivery(  # pragma: engine-only
        self, credentials: dagger.Secret, argv: Sequence[str], *, summary: str | None = None
    ) -> str:
        """Run the clarity-deploy CLI; return its summary, raise with it on failure."""
        ran = (
            self._workspace(self.source)
            # The ci project itself (console script clarity-deploy); its dependencies are
            # already in the environment, and its dagger-io source (ci/sdk) exists only
            # after `dagger develop`, hence --no-deps --no-sources.
            .with_exec(
                [
                    "uv",
                    "pip",
                    "install",
                    "--quiet",
                    "--no-deps",
                    "--no-sources",
                    "--python",
                    f"{_VENV}/bin/python",
                    f"{_WORKDIR}/ci",
                ]
            )
            .with_mounted_secret(_CREDENTIALS, credentials, mode=_OWNER_ONLY)
            .with_env_variable("GOOGLE_APPLICATION_CREDENTIALS", _CREDENTIALS)
            .with_exec(["mkdir", "-p", "/out"])
            .with_exec(["clarity-deploy", *argv], expect=ReturnType.ANY)
        )
        exit_code = await ran.exit_code()
        output = await ran.combined_output()
        text = output
        written = await ran.directory("/out").entries()
        if summary is not None and summary.removeprefix("/out/") in written:
            text = await ran.file(summary).contents()
        if exit_code != 0:
            details = text if text is output else f"{text}\n\n{tail(output)}"
            msg = f"clarity-deploy {argv[0]} failed (exit {exit_code}):\n{details}"
            raise RolloutError(msg)
        return text
