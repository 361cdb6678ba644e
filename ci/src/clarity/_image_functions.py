"""The image functions of ``Clarity``: build, scan, SBOMs, publish, sign, promote.

A mixin of the one exposed object (``clarity.main.Clarity`` inherits these functions; the
SDK registers every ``@function`` a class has, inherited ones included), kept beside it by
concern so each stays short. The recipes' containers are built in ``_scans``,
``_publishing`` and ``_promotion``; the decisions are plain Python in ``_provenance``.
"""

from typing import Annotated

import dagger
from dagger import Doc, dag, function

from clarity._arguments import (
    Environment,
    OidcRequestToken,
    OidcRequestUrl,
    PublicKey,
    SignerRepository,
    SigningKey,
    SigningKeyPassword,
)
from clarity._caching import never_cached, session_cached
from clarity._delivery import require_commit
from clarity._errors import GatesFailedError, InputError
from clarity._inputs import environment_settings, release_version
from clarity._promotion import copy_release, render_promotion, verify_release
from clarity._provenance import check_builds_here, expected_signer, promotion_origin
from clarity._publishing import github_request, publish_images, sign_images, signing_identity
from clarity._scans import image, sbom, scan_images
from clarity._settings import SERVICES, pinned_address, validate_version

__all__ = ["ImageFunctions"]


class ImageFunctions:
    """Build once per commit, scan, describe, publish, sign; promote what staging verified."""

    source: dagger.Directory

    @function
    async def build(self) -> list[dagger.Container]:
        """Build the api-gateway and ml-service images (in that order) for linux/amd64."""
        return [image(self.source, service) for service in SERVICES]

    @session_cached
    async def scan(self) -> str:
        """Scan each image with trivy; fail on HIGH or CRITICAL vulnerabilities with a fix."""
        summary, _ = await scan_images(self.source)
        if not summary.ok:
            raise GatesFailedError(summary.render())
        return summary.render()

    @session_cached
    async def scan_report(self) -> dagger.Directory:
        """Scan each image with trivy; return <service>.sarif and summary.txt, even on findings."""
        summary, reports = await scan_images(self.source, reports=True)
        directory = dag.directory().with_new_file("summary.txt", summary.render())
        for service, report in reports.items():
            directory = directory.with_file(f"{service}.sarif", report)
        return directory

    @function
    async def sbom(self) -> dagger.Directory:
        """Generate a CycloneDX SBOM per image: <service>.cdx.json."""
        directory = dag.directory()
        for service in SERVICES:
            directory = directory.with_file(f"{service}.cdx.json", sbom(self.source, service))
        return directory

    @never_cached
    async def publish(
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
        check_builds_here(env.value, "publish")
        settings = await environment_settings(self.source, env.value)
        tag = await release_version(self.source, version)
        pushed = await publish_images(self.source, settings, credentials, tag)
        return [pushed[service] for service in SERVICES]

    @never_cached
    async def sign(
        self,
        *,
        env: Annotated[Environment, Doc("Environment whose registry holds the images.")],
        credentials: Annotated[
            dagger.Secret, Doc("Google credentials JSON allowed to write to Artifact Registry.")
        ],
        references: Annotated[
            list[str], Doc("Digest-pinned references returned by publish (name@sha256:...).")
        ],
        key: SigningKey = None,
        key_password: SigningKeyPassword = None,
        identity_token: Annotated[
            dagger.Secret | None,
            Doc("OIDC token of the CI identity (audience sigstore) for keyless signing."),
        ] = None,
        oidc_request_token: OidcRequestToken = None,
        oidc_request_url: OidcRequestUrl = None,
    ) -> str:
        """Sign each published digest with cosign and attach its SBOM as an attestation."""
        settings = await environment_settings(self.source, env.value)
        pinned = [pinned_address(reference) for reference in references]
        if not pinned:
            msg = "sign needs --references: the digest references printed by publish"
            raise InputError(msg)
        github = github_request(oidc_request_token, oidc_request_url)
        identity = signing_identity(key, key_password, identity_token, github)
        lines = await sign_images(self.source, settings, credentials, pinned, identity)
        return "\n".join(lines)

    @never_cached
    async def promote(
        self,
        *,
        from_: Annotated[Environment, Doc("Environment the release passed: staging.")],
        to: Annotated[Environment, Doc("Environment whose registry receives it: prod.")],
        version: Annotated[str, Doc("Version staging's record must show as released.")],
        commit: Annotated[str, Doc("Git SHA staging's record must show for that version.")],
        credentials: Annotated[
            dagger.Secret, Doc("Google credentials reading staging and writing prod's registry.")
        ],
        signer_repository: SignerRepository = None,
        public_key: PublicKey = None,
    ) -> str:
        """Verify the release staging passed (record, signatures) and copy its digests to prod."""
        origin = promotion_origin(to.value, from_.value)
        signer = expected_signer(
            origin, repository=signer_repository, public_key=public_key is not None
        )
        verified = await verify_release(
            self.source,
            from_env=origin,
            to_env=to.value,
            version=validate_version(version),
            commit=require_commit(commit, "promote"),
            credentials=credentials,
            signer=signer,
            public_key=public_key,
        )
        return render_promotion(await copy_release(self.source, verified, credentials))
