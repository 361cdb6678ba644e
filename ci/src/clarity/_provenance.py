"""Where images come from: which environments build, sign or promote them, and whose
signatures a promotion accepts. Plain Python, checked before any container is built.

dev and staging build, scan and publish their own images; prod never does: it runs the
digests staging verified, copied by ``promote`` (``clarity_delivery.promotion``).
Staging's deploy signs every digest it publishes and attaches its SBOM as an attestation:
in GitHub Actions keyless, with a short-lived Fulcio certificate for the workflow's own
OIDC identity (``cd.yml`` on ``refs/heads/main``, the protected ref that deploys staging),
or with a cosign key elsewhere. Prod promotes only digests whose signatures verify for
exactly that identity (or that key): a signature by any other workflow, ref or repository
— a pull request's run, a fork, a dev deploy — does not count.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from clarity_delivery import ConfigError
from clarity_delivery.promotion import PROMOTED_FROM, promotion_source

from clarity._errors import InputError

__all__ = [
    "GITHUB_ISSUER",
    "GITHUB_REQUEST_TOKEN",
    "GITHUB_REQUEST_URL",
    "PROMOTED_FROM",
    "SIGNING_REFS",
    "SIGNING_WORKFLOW",
    "VERIFYING_FLAGS",
    "ExpectedSigner",
    "check_builds_here",
    "check_identity_arguments",
    "expected_signer",
    "promotion_origin",
    "signing_required",
]

GITHUB_ISSUER: Final = "https://token.actions.githubusercontent.com"
"""The OIDC issuer of GitHub Actions' workflow identities."""
SIGNING_WORKFLOW: Final = ".github/workflows/cd.yml"
SIGNING_REFS: Final = {"dev": "refs/heads/develop", "staging": "refs/heads/main"}
"""The protected ref whose cd.yml run deploys, and so signs, each environment's images."""
GITHUB_REQUEST_TOKEN: Final = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"  # noqa: S105 - a variable's name
GITHUB_REQUEST_URL: Final = "ACTIONS_ID_TOKEN_REQUEST_URL"
"""What cosign's github-actions provider reads to request the job's OIDC token itself, at
the moment it signs (a token fetched before a long build could expire before signing)."""

VERIFYING_FLAGS: Final = frozenset({"--signer-repository", "--public-key"})
"""What only a promotion reads (whose signatures count); every other identity flag signs."""

_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")


@dataclass(frozen=True)
class ExpectedSigner:
    """The one identity whose signatures a promotion accepts."""

    certificate_identity: str | None
    """Keyless: the Fulcio certificate's subject (the workflow's URL at its ref); None: the
    cosign public key given to the promotion."""

    def arguments(self, public_key: str) -> list[str]:
        """cosign verify's identity arguments (``public_key``: where the key is mounted)."""
        if self.certificate_identity is None:
            return ["--key", public_key]
        return [
            "--certificate-identity",
            self.certificate_identity,
            "--certificate-oidc-issuer",
            GITHUB_ISSUER,
        ]

    def describe(self) -> str:
        """The certificate identity and its issuer, or ``the given cosign public key``."""
        if self.certificate_identity is None:
            return "the given cosign public key"
        return f"{self.certificate_identity} (issuer {GITHUB_ISSUER})"


def check_builds_here(environment: str, function_name: str) -> None:
    """Refuse to build or publish for an environment that only runs promoted digests."""
    source = PROMOTED_FROM.get(environment)
    if source is not None:
        msg = (
            f"{function_name} --env {environment} refused: {environment} runs only the digests "
            f"{source} verified, never a new build. Promote them: dagger call promote --from "
            f"{source} --to {environment} --version VERSION --commit SHA (deploy --env "
            f"{environment} does it for you)"
        )
        raise InputError(msg)


def check_identity_arguments(environment: str, given: Mapping[str, bool]) -> None:
    """Refuse identity flags ``deploy --env environment`` would not use: signing flags where
    nothing is built (prod), signer flags where nothing is verified (dev, staging).

    ``given``: flag -> whether it was passed. Ignoring one would hide a mistake (a key meant
    for staging passed to prod's deploy, an expected signer that is never checked).
    """
    source = PROMOTED_FROM.get(environment)
    misplaced = sorted(
        flag
        for flag, present in given.items()
        if present and (flag in VERIFYING_FLAGS) != (source is not None)
    )
    if not misplaced:
        return
    if source is not None:
        msg = (
            f"deploy --env {environment} signs nothing: it promotes the digests {source} "
            f"signed. Drop {', '.join(misplaced)}; pass --signer-repository or --public-key"
        )
    else:
        msg = (
            f"deploy --env {environment} builds and signs; it verifies no signature. Drop "
            f"{', '.join(misplaced)} (they tell a promotion whose signatures count)"
        )
    raise InputError(msg)


def promotion_origin(target: str, source: str) -> str:
    """``source`` if ``target`` is promoted from it; else an :class:`InputError` saying why."""
    try:
        return promotion_source(target, source)
    except ConfigError as exc:
        raise InputError(exc.message) from None


def signing_required(environment: str) -> bool:
    """Whether a deploy to ``environment`` must sign what it publishes: what prod promotes."""
    return environment in PROMOTED_FROM.values()


def expected_signer(source: str, *, repository: str | None, public_key: bool) -> ExpectedSigner:
    """The identity that signed ``source``'s images: GitHub's for ``repository``, or a key.

    Exactly one of ``repository`` (``owner/name``: keyless, as CI signs) and ``public_key``.
    """
    if (repository is None) == (not public_key):
        msg = (
            f"promoting from {source} verifies its signatures: pass exactly one of "
            "--signer-repository OWNER/NAME (signed keyless in GitHub Actions, e.g. "
            "${{ github.repository }}) or --public-key (signed with a cosign key)"
        )
        raise InputError(msg)
    if repository is None:
        return ExpectedSigner(None)
    if not _REPOSITORY.match(repository):
        msg = f"invalid --signer-repository {repository!r}: use a GitHub repository, OWNER/NAME"
        raise InputError(msg)
    ref = SIGNING_REFS.get(source)
    if ref is None:
        msg = f"{source}'s deploy signs nothing: no signatures to verify there"
        raise InputError(msg)
    identity = f"https://github.com/{repository}/{SIGNING_WORKFLOW}@{ref}"
    return ExpectedSigner(identity)
