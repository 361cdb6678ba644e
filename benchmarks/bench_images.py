"""Container images: cold and warm build times and final sizes of both services.

Runs its own dockerd (``tests/support/docker.py``) and the local stand-ins for the pinned
base and uv images that ``make provision`` prepares, so it works with no image registry.
Per service:

- cold: the engine's build cache (layers and the uv download cache) pruned first, so every
  locked wheel is downloaded and installed again; the base image is already present (on a
  build machine it would be pulled or cached);
- warm, unchanged: the same build again, every step cached;
- warm, source edited: one line of the service's code changed, so only the project install
  and the final copy re-run.

Warm figures are the median of three builds. The context is a copy of the repository's build
inputs, so editing it leaves the checkout alone.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from pathlib import Path

from tests.support.docker import (
    REPO_ROOT,
    SERVICES,
    DockerEngine,
    Service,
    build_service_image,
    default_ca_bundle,
    start_engine,
)
from tests.support.local_images import ensure_local_images

WARM_RUNS = 3
BASE_NOTE = (
    "local debootstrap bookworm + python3 3.11 stripped of every other program, apt and dpkg "
    "(stand-in for the pinned gcr.io/distroless/python3-debian12); sizes are uncompressed, "
    "as `docker images` shows them"
)
CONTEXT_ENTRIES = (".dockerignore", "pyproject.toml", "uv.lock", "README.md", "src")


def _copy_context(destination: Path) -> Path:
    destination.mkdir(parents=True)
    for name in CONTEXT_ENTRIES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, destination / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        elif source.exists():
            shutil.copy2(source, destination / name)
    return destination


def _measure(
    engine: DockerEngine, service: Service, workdir: Path, base: str, uv: str
) -> dict[str, float]:
    context = _copy_context(workdir / f"context-{service.name}")
    tag = f"clarity-bench/{service.name}:latest"

    def build() -> float:
        return build_service_image(
            engine,
            service,
            tag=tag,
            base_image=base,
            uv_image=uv,
            ca_bundle=default_ca_bundle(),
            context=context,
        ).seconds

    engine.run("image", "rm", tag, check=False)
    engine.run("builder", "prune", "--all", "--force")
    cold = build()
    unchanged = statistics.median(build() for _ in range(WARM_RUNS))
    edited: list[float] = []
    main_module = context / "src" / service.module / "main.py"
    for run in range(WARM_RUNS):
        with main_module.open("a") as handle:
            handle.write(f"# benchmark edit {run}\n")
        edited.append(build())
    size = engine.image_size(tag)
    engine.run("image", "rm", tag, check=False)
    return {
        "cold": cold,
        "unchanged": unchanged,
        "edited": statistics.median(edited),
        "size": size / 1e6,
    }


def main() -> int:
    """Print a Markdown table of build times and image sizes for both services."""
    with tempfile.TemporaryDirectory(prefix="bench-images-") as tmp:
        workdir = Path(tmp)
        engine = start_engine(workdir / "engine", reuse_running=False)
        try:
            images = ensure_local_images(engine)
            base, uv = images.base, images.uv
            rows = {
                service.name: _measure(engine, service, workdir, base, uv) for service in SERVICES
            }
        finally:
            engine.stop()
    print("| image | cold build (s) | warm, unchanged (s) | warm, source edited (s) | size (MB) |")
    print("|---|---:|---:|---:|---:|")
    for name, row in rows.items():
        times = f"{row['cold']:.1f} | {row['unchanged']:.1f} | {row['edited']:.1f}"
        print(f"| {name} | {times} | {row['size']:.0f} |")
    print(f"\nbase image: {BASE_NOTE}")
    return 0
