"""What ``deploy`` runs: a build once per commit (dev, staging), or a promotion (prod).

Built: scan the images, plan Terraform (a plan that fails leaves the registry untouched),
publish, sign what was published (staging must: prod promotes only signed digests), apply
exactly the plan computed in this run, roll out the published digests. Promoted: read the
release's record in the environment it comes from, verify its signatures, plan, copy its
digests into the environment's registry, apply, roll out those very digests.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagger

from clarity import _terraform as terraform
from clarity._delivery import SUMMARY, deploy_argv, run_delivery
from clarity._errors import GatesFailedError
from clarity._promotion import copy_release, render_promotion, verify_release
from clarity._provenance import ExpectedSigner
from clarity._publishing import SigningIdentity, publish_images, sign_images
from clarity._scans import scan_images
from clarity._settings import SERVICES, EnvironmentSettings, TerraformInputs, image_address

__all__ = ["Release", "deploy_built", "deploy_promoted"]


@dataclass(frozen=True, kw_only=True)
class Release:
    """What every deploy needs: where, which version and commit, and its Terraform inputs."""

    settings: EnvironmentSettings
    credentials: dagger.Secret
    inputs: TerraformInputs
    version: str
    commit: str
    stages: tuple[str, ...]
    approve: bool

    @property
    def env(self) -> str:
        """The environment deployed to."""
        return self.settings.environment

    @property
    def dry_run(self) -> bool:
        """Whether the rollout is simulated (and nothing is pushed, copied or applied)."""
        return "rollout --dry-run" in self.stages


async def _apply_and_roll_out(
    source: dagger.Directory, release: Release, images: dict[str, str], planned: dagger.Container
) -> str:
    if "apply" in release.stages:
        # The approved change applies exactly the plan computed in this run.
        await terraform.apply_saved(planned, release.env).sync()
    argv = deploy_argv(
        release.env,
        release.version,
        release.commit,
        images,
        approve=release.approve,
        dry_run=release.dry_run,
    )
    return await run_delivery(source, release.credentials, argv, summary=SUMMARY)


async def _plan(source: dagger.Directory, release: Release) -> dagger.Container:
    initialised = await terraform.initialised(
        source, release.env, release.credentials, release.inputs
    )
    return await terraform.plan(initialised, release.env).sync()


async def deploy_built(
    source: dagger.Directory, release: Release, signing: SigningIdentity | None
) -> str:
    """Scan, plan, publish, sign (with ``signing``), apply and roll out this commit's build."""
    scanned, _ = await scan_images(source)
    if not scanned.ok:
        raise GatesFailedError(scanned.render())
    # Plan before pushing anything: a plan that fails leaves the registry untouched.
    planned = await _plan(source, release)
    if "publish" not in release.stages:
        images = {
            service: image_address(release.settings, service, release.version)
            for service in SERVICES
        }
        return await _apply_and_roll_out(source, release, images, planned)
    images = await publish_images(source, release.settings, release.credentials, release.version)
    signed = ""
    if signing is not None and "sign" in release.stages:
        references = [images[service] for service in SERVICES]
        lines = await sign_images(
            source, release.settings, release.credentials, references, signing
        )
        signed = "\n".join(f"- {line}" for line in lines) + "\n\n"
    return signed + await _apply_and_roll_out(source, release, images, planned)


async def deploy_promoted(
    source: dagger.Directory,
    release: Release,
    *,
    from_env: str,
    signer: ExpectedSigner,
    public_key: dagger.File | None,
) -> str:
    """Verify the release ``from_env`` passed, plan, copy its digests, apply, roll them out."""
    run = await verify_release(
        source,
        from_env=from_env,
        to_env=release.env,
        version=release.version,
        commit=release.commit,
        credentials=release.credentials,
        signer=signer,
        public_key=public_key,
    )
    # Plan before copying anything: a plan that fails leaves prod's registry untouched.
    planned = await _plan(source, release)
    if "promote" in release.stages:
        run = await copy_release(source, run, release.credentials)
    summary = await _apply_and_roll_out(source, release, run.promotion.images, planned)
    return f"{render_promotion(run)}\n{summary}"
