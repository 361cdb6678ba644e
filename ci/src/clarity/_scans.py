"""The service images: built from docker/<service>/Dockerfile, scanned and described by trivy.

trivy keeps its vulnerability database and its scan cache (a BoltDB file) under one cache
directory and holds an exclusive lock on that file for the whole run; a second trivy on
the same directory gives up after five seconds ("cache may be in use by another process").
The cache volume is therefore mounted ``LOCKED``: scans that run at once (both images, or a
scan beside an SBOM) wait for each other instead of failing, and the database is
downloaded once for all of them. Per-image volumes would run in parallel but download the
database once per image, and a scan and an SBOM of the same image would still collide.
"""

from __future__ import annotations

from typing import Final

import anyio
import dagger
from dagger import ReturnType, dag

from clarity._gate_runs import exec_for_report
from clarity._gates import IMAGE_SCAN, IMAGE_TARBALL
from clarity._images import TRIVY
from clarity._report import StepResult, Summary, summarize
from clarity._settings import SERVICES, dockerfile
from clarity._workspace import OUT, PLATFORM, REPORTS, with_empty_directory

__all__ = ["TRIVY_CACHE", "image", "sbom", "scan_images"]

TRIVY_CACHE: Final = "/root/.cache/trivy"


def image(source: dagger.Directory, service: str) -> dagger.Container:
    """The service's image for linux/amd64, built from its Dockerfile in the repository."""
    return source.docker_build(dockerfile=dockerfile(service), platform=PLATFORM)


def _trivy(source: dagger.Directory, service: str) -> dagger.Container:
    return (
        dag.container()
        .from_(TRIVY.address)
        .with_mounted_cache(
            TRIVY_CACHE,
            dag.cache_volume("clarity-trivy-db"),
            sharing=dagger.CacheSharingMode.LOCKED,
        )
        .with_env_variable("TRIVY_CACHE_DIR", TRIVY_CACHE)
        .with_env_variable("TRIVY_NO_PROGRESS", "true")
        .with_file(IMAGE_TARBALL, image(source, service).as_tarball())
    )


async def scan_images(
    source: dagger.Directory, *, reports: bool = False
) -> tuple[Summary, dict[str, dagger.File]]:
    """Scan every image; with ``reports``, also return each image's SARIF report."""
    results: list[StepResult] = []
    sarif: dict[str, dagger.File] = {}

    async def scan(service: str) -> None:
        trivy = _trivy(source, service)
        if reports:
            scanned = exec_for_report(trivy.with_(with_empty_directory(REPORTS)), IMAGE_SCAN)
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
            written = await scanned.directory(REPORTS).entries()
            if IMAGE_SCAN.report.file in written:
                sarif[service] = scanned.file(f"{REPORTS}/{IMAGE_SCAN.report.file}")

    async with anyio.create_task_group() as group:
        for service in SERVICES:
            group.start_soon(scan, service)
    return summarize(results, [("scan", service) for service in SERVICES]), sarif


def sbom(source: dagger.Directory, service: str) -> dagger.File:
    """The CycloneDX SBOM of the service's image."""
    output = f"{OUT}/{service}.cdx.json"
    return (
        _trivy(source, service)
        # trivy creates its output file, not the directory the file goes in.
        .with_(with_empty_directory(OUT))
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
