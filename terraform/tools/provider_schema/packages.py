"""The pinned Python packages a provider's schema is derived from.

Terraform providers cannot be downloaded where the tests run, but CDK for Terraform
publishes every provider's schema to the Python registry as a jsii assembly (the
``cdktf-cdktf-provider-<name>`` wheels). Each entry pins one wheel by URL and sha256,
like a lockfile does; the schema is only ever derived from those exact bytes.

The google provider is pinned to 16.12.1, built from google 6.50.0: the modules ask for
``>= 6.14.0, < 7.0.0`` and the roots for ``~> 6.14``, and no dependency lock file is
committed, so ``terraform init`` installs the newest 6.x, which is 6.50.0 (the last
release of the 6.x line). 14.13.0 (google 6.14.0, the floor of that range) is pinned too,
to check on demand that the configuration still holds at the lowest version it admits.

The github provider (integrations/github, the GitHub side in terraform/github) is pinned to
15.3.1, built from 6.9.0, the last release cdktf published bindings for; terraform/github
pins the provider to exactly that release, so the schema checked is the one installed.
"""

from __future__ import annotations

from dataclasses import dataclass

from terraform.tools.provider_schema._errors import UnknownPackageError

__all__ = [
    "GITHUB",
    "GOOGLE",
    "GOOGLE_FLOOR",
    "PACKAGES",
    "ProviderPackage",
    "default_packages",
    "find_package",
]


@dataclass(frozen=True, kw_only=True)
class ProviderPackage:
    """One pinned wheel and the provider release its assembly was generated from."""

    source: str  # the provider's registry address, e.g. "hashicorp/google"
    provider_version: str
    distribution: str
    version: str
    url: str
    sha256: str
    size: int

    @property
    def pin(self) -> str:
        """``distribution==version``."""
        return f"{self.distribution}=={self.version}"

    @property
    def local_name(self) -> str:
        """The provider's conventional local name (the part after the namespace)."""
        return self.source.rsplit("/", 1)[-1]


_FILES = "https://files.pythonhosted.org/packages"

GOOGLE = ProviderPackage(
    source="hashicorp/google",
    provider_version="6.50.0",
    distribution="cdktf-cdktf-provider-google",
    version="16.12.1",
    url=f"{_FILES}/1b/85/6fae846070b7d78775d782f1b519a2aefd1c04877a6ad07f9e5b0584eebb/"
    "cdktf_cdktf_provider_google-16.12.1-py3-none-any.whl",
    sha256="88d021c89e1cf2abf2c935716d6548d26fe3da4bed30713d4fa36df1ef137436",  # pragma: allowlist secret (a pinned file hash)
    size=49_113_703,
)

GOOGLE_FLOOR = ProviderPackage(
    source="hashicorp/google",
    provider_version="6.14.0",
    distribution="cdktf-cdktf-provider-google",
    version="14.13.0",
    url=f"{_FILES}/e5/85/31e414f48b7365b3ec8807294fff566e197d97655bf304dbf7f2c9c88d3b/"
    "cdktf_cdktf_provider_google-14.13.0-py3-none-any.whl",
    sha256="96d2cfefc40cef451530e42c7f4f9f4509c1b7e2ccf84280a4d415b802012598",  # pragma: allowlist secret (a pinned file hash)
    size=39_170_837,
)

GITHUB = ProviderPackage(
    source="integrations/github",
    provider_version="6.9.0",
    distribution="cdktf-cdktf-provider-github",
    version="15.3.1",
    url=f"{_FILES}/95/4a/908107a57be7a2208a7eefee3769769e491dd4a36977f8e9e6b85a68e9da/"
    "cdktf_cdktf_provider_github-15.3.1-py3-none-any.whl",
    sha256="d2824bfbabc7288cab5c7ec14314279aa123c67ec63be91b250cf05be059b793",  # pragma: allowlist secret (a pinned file hash)
    size=1_999_761,
)

# The first entry for a source is the one checks use unless a version is asked for.
PACKAGES: tuple[ProviderPackage, ...] = (GOOGLE, GOOGLE_FLOOR, GITHUB)


def find_package(source: str, provider_version: str | None = None) -> ProviderPackage:
    """The pinned package for a provider source (``hashicorp/google`` or just ``google``)."""
    wanted = source if "/" in source else f"hashicorp/{source}"
    for package in PACKAGES:
        if package.source == wanted and provider_version in (None, package.provider_version):
            return package
    pinned = ", ".join(f"{p.source} {p.provider_version}" for p in PACKAGES)
    version = f" {provider_version}" if provider_version else ""
    msg = (
        f"no pinned schema package for {wanted}{version} (pinned: {pinned}); "
        "add one to terraform/tools/provider_schema/packages.py"
    )
    raise UnknownPackageError(msg)


def default_packages() -> list[ProviderPackage]:
    """The package each pinned provider is checked with: the first pinned for its source."""
    chosen: dict[str, ProviderPackage] = {}
    for package in PACKAGES:
        chosen.setdefault(package.source, package)
    return list(chosen.values())
